// Package julesplan is the life of a Plan in which people review a plan Google Jules proposed
// (onboarding, code fixes): it is proposed needing their approval, Jules is told once they
// approved, and it ends with the session. What each use does with Jules' result is its own.
package julesplan
