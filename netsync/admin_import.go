package netsync

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// maxImportBody bounds the body of an import through the administration
// socket.
const maxImportBody = 4 << 30

// importHandlers serves AdminClient.Import: the trees and records as JSON
// (stored forms in base64), stored by Server.Import; connected clients
// receive the records at once.
func (s *Server) importHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/import", func(w http.ResponseWriter, r *http.Request) {
		var trees []ImportTree
		dec := json.NewDecoder(io.LimitReader(r.Body, maxImportBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&trees); err != nil {
			adminJSON(w, http.StatusBadRequest, adminErr{Error: "malformed request: " + err.Error(), Code: "bad_request"})
			return
		}
		n, err := s.Import(trees)
		if err != nil {
			s.log.Warn("admin import refused", "peer_uid", peerOf(r), "err", err)
			adminError(w, err)
			return
		}
		s.log.Info("admin import", "records", n, "trees", len(trees), "peer_uid", peerOf(r))
		adminJSON(w, http.StatusOK, map[string]int{"records": n})
	})
}

// Import asks the running server to import trees (see Server.Import) and
// returns the number of records stored. A refusal matches ErrImport.
func (c *AdminClient) Import(ctx context.Context, trees []ImportTree) (int, error) {
	var out struct {
		Records int `json:"records"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/import", trees, &out)
	return out.Records, err
}
