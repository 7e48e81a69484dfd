// Package diagnose is the hub's built-in, deterministic diagnosis engine: from one spoke finding
// it mines log templates (Masker, Miner, Mine), blames a rollout that came just before the
// failure, names a root-cause category with a confidence and its evidence, and proposes ranked
// remediations (Diagnose); across clusters it groups diagnoses into fleet incidents (Correlator);
// and it digests inputs and outputs for audit records (InputDigest, DiagnosisDigest).
// No network, no clock: everything it knows comes in its arguments.
package diagnose
