package storetest

// Remembered is the number of entries a Churn keeps about what it wrote: its own
// documents' last states and its shared documents' records.
func (ch *Churn) Remembered() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.own) + len(ch.shared)
}

// SharedWritten reports whether the writer wrote shared document id, and deleted it.
func (ch *Churn) SharedWritten(id string) (written, deleted bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	deleted, written = ch.shared[id]
	return written, deleted
}
