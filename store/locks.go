package store

import (
	"hash/maphash"
	"sync"
)

// docLocks serializes writes to one document inside this process.
//
// FerretDB (the embedded database) applies an update as read, modify,
// write without isolation: measured with 8 goroutines, two identical
// conditional updateOne calls both matched and a concurrent $inc was lost.
// The embedded database listens on loopback for this process alone, so an
// in-process lock per document restores the compare-and-set semantics that
// MongoDB gives by itself. On MongoDB the store has no docLocks.
type docLocks struct {
	seed    maphash.Seed
	stripes [256]sync.Mutex
}

func newDocLocks() *docLocks { return &docLocks{seed: maphash.MakeSeed()} }

// lock takes the lock of document id in collection coll and returns its
// release. A nil *docLocks does nothing.
func (l *docLocks) lock(coll, id string) func() {
	if l == nil {
		return func() {}
	}
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(coll)
	h.WriteByte(0)
	h.WriteString(id)
	m := &l.stripes[h.Sum64()%uint64(len(l.stripes))]
	m.Lock()
	return m.Unlock
}
