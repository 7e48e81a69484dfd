package store

import "errors"

// Sentinel errors. Every error the store returns wraps one of them with context; test
// with errors.Is.
var (
	// ErrNotFound: the resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create named a resource that exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the expected resource version is not the stored one.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the command or request is malformed or violates the kind's rules.
	ErrInvalid = errors.New("invalid")
	// ErrTooLarge: a value is over its size limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnknownCommand: a log entry has a command type this member does not know and
	// no ignore-if-unknown flag.
	ErrUnknownCommand = errors.New("unknown command type")
	// ErrCompacted: a watch asked for changes older than the retained history, or fell
	// that far behind, or the state was replaced by a snapshot restore. List again and
	// watch from the list's index.
	ErrCompacted = errors.New("compacted")
	// ErrAborted: a command of a transaction was rolled back because another command of
	// the same transaction failed.
	ErrAborted = errors.New("aborted")
)
