package netsync

import "slices"

// LogRecords returns the records the server's log holds for the record
// key of tree, in log order: what every accepted change of it made.
func LogRecords(s *Server, tree string, key uint64) ([][]byte, error) {
	a := s.a
	a.mu.Lock()
	upto := a.seq
	a.mu.Unlock()
	var out [][]byte
	_, err := a.eachLog(0, upto, 1<<30, func(e *logEntry) error {
		if e.Tree == tree && e.Key == key && e.Record != nil {
			out = append(out, slices.Clone(e.Record))
		}
		return nil
	})
	return out, err
}
