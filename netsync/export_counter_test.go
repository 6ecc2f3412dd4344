package netsync

// LogRecords returns the records the server's log holds for the record
// key of tree, in log order: what every accepted change of it made.
func LogRecords(s *Server, tree string, key uint64) ([][]byte, error) {
	a := s.a
	a.mu.Lock()
	upto := a.seq
	a.mu.Unlock()
	es, err := a.logFrom(0, upto, 1<<30)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range es {
		if e.Tree == tree && e.Key == key && e.Record != nil {
			out = append(out, e.Record)
		}
	}
	return out, nil
}
