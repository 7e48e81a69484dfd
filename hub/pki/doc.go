// Package pki is the hub's certificate authority: its key pair, the identities it puts in
// certificates (hub members, admins), and issuing and loading those certificates. Members, admins
// and (later) clusters all authenticate with certificates from this one CA.
package pki
