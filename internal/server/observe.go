package server

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"time"
)

// Request is what the server reports of one HTTP request it answered (see
// ObserveRequests). It carries nothing a request or an answer could hide a
// secret, a handle or a token in: the route is the pattern the request
// matched, not its path.
type Request struct {
	// Route is the pattern of the route that served the request, as it
	// was registered on Mux ("POST /v1/lookup", "GET /v1/blobs/{id}"), or
	// "" if none matched.
	Route string
	// Status is the HTTP status of the answer (200 when the handler wrote
	// none, as net/http then answers 200).
	Status int
	// Error is the stable error code of an error answer (status 400 or
	// more) with a JSON body {"error": {"code": "..."}}, the envelope of
	// the directory and the blob store; "" otherwise. The error message
	// is never read out.
	Error string
	// Duration is the time from the start of routing to the handler's
	// return.
	Duration time.Duration
}

// Error answers are read for their code only up to this many bytes; a
// longer body gets no code.
const maxErrorBody = 4 << 10

// ObserveRequests makes the server call f after it has answered each HTTP
// request (courier connections are not HTTP requests). Call it before
// Serve; f is called from the requests' goroutines, concurrently, and must
// be quick. Only error answers are looked at, and only their first 4 KiB:
// successful bodies (blob downloads) stream through untouched.
func (s *Server) ObserveRequests(f func(Request)) { s.observe = f }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.observe == nil {
		s.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	req := Request{Route: r.Pattern, Status: rec.code, Duration: time.Since(start)}
	if req.Status == 0 {
		req.Status = http.StatusOK
	}
	if rec.capture {
		req.Error = errorCode(rec.body)
	}
	s.observe(req)
}

// recorder notes an answer's status and keeps the beginning of a JSON
// error body.
type recorder struct {
	http.ResponseWriter
	code    int
	capture bool   // a JSON error answer: keep the start of its body
	body    []byte // at most maxErrorBody+1 bytes
}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx answers are not final
		w.code = code
		if code >= 400 {
			ct, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
			w.capture = ct == "application/json"
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.capture && len(w.body) <= maxErrorBody {
		w.body = append(w.body, b[:min(len(b), maxErrorBody+1-len(w.body))]...)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the underlying writer's fast path (sendfile, large
// copies) for answers whose body is not being kept.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !w.capture {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w}, src)
}

func (w *recorder) Flush() {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorCode returns the code of an error body {"error": {"code": CODE,
// ...}} if CODE is a short identifier (1 to 64 of a-z, 0-9, _), as every
// stable code is; otherwise "".
func errorCode(body []byte) string {
	if len(body) > maxErrorBody {
		return ""
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || !isCode(e.Error.Code) {
		return ""
	}
	return e.Error.Code
}

func isCode(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
