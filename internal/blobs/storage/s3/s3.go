// Package s3 is the blob store's backend for S3-compatible object stores
// (AWS S3, versitygw, Ceph RGW, Garage, ...), through the AWS SDK for Go
// v2 with static credentials and path-style addressing.
//
// Layout under the bucket and optional prefix:
//
//	objects/<id>     a blob: one S3 object, written as a multipart upload
//	                 whose parts are the blob's chunks (5 MiB, S3's smallest
//	                 part size, so the chunking fits S3's rules exactly)
//	records/<key>    one small S3 object per record
//
// An upload is an S3 multipart upload: the handle is the blob's size and
// the upload's UploadId, a chunk is a part (number index+1), Chunks is
// ListParts (counting only parts of the right length), Commit is
// CompleteMultipartUpload (after checking that every part is there with
// its size), AbortUpload is AbortMultipartUpload. S3 makes a part or an
// object visible only once its whole body has arrived, so a PutChunk cut
// short leaves the part as it was. Some S3-compatible servers (versitygw's
// POSIX backend among them) write a part in place, so that a request cut
// short can leave a short part; Chunks and Commit ignore parts whose length
// is wrong. An empty blob, which S3's
// multipart rules cannot express, is a PutObject of no bytes at Commit.
//
// Parts are sent with UNSIGNED-PAYLOAD (the body is not hashed for the
// request signature: the blob service has already checked its checksum,
// and TLS protects it in transit), and without the SDK's optional
// checksums.
//
// Presigned GET URLs (storage.Presigner) let clients download straight
// from the object store.
//
// A Store is safe for concurrent use.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sealpost/sealpost/internal/blobs/storage"
)

// Config locates a bucket.
type Config struct {
	// Endpoint is the server, e.g. "https://s3.eu-west-1.amazonaws.com"
	// or "http://127.0.0.1:7070".
	Endpoint string
	Bucket   string
	// Prefix is prepended to every key ("" or ending in "/").
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
}

// String describes the bucket without credentials.
func (c Config) String() string {
	return fmt.Sprintf("S3 bucket %s/%s%s (region %s)", c.Endpoint, c.Bucket, "/"+c.Prefix, c.Region)
}

// ParseURL reads a Config from
//
//	s3://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix][?region=R&tls=false]
//
// (credentials URL-encoded; tls=false for plain-HTTP endpoints on
// loopback; region defaults to us-east-1).
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Config{}, errors.New("blob store: want s3://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix][?region=R&tls=false]")
	}
	var c Config
	scheme := "https"
	q := u.Query()
	switch q.Get("tls") {
	case "", "true":
	case "false":
		scheme = "http"
	default:
		return Config{}, fmt.Errorf("blob store: tls=%q: want true or false", q.Get("tls"))
	}
	for k := range q {
		if k != "tls" && k != "region" {
			return Config{}, fmt.Errorf("blob store: unknown parameter %q (known: region, tls)", k)
		}
	}
	c.Endpoint = scheme + "://" + u.Host
	c.Region = q.Get("region")
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return Config{}, errors.New("blob store: the s3:// URL needs ACCESS_KEY:SECRET_KEY@")
	}
	path := strings.Trim(u.Path, "/")
	c.Bucket, c.Prefix, _ = strings.Cut(path, "/")
	if c.Bucket == "" {
		return Config{}, errors.New("blob store: the s3:// URL needs a bucket: s3://...@host/bucket")
	}
	if c.Prefix != "" {
		c.Prefix += "/"
	}
	return c, nil
}

// Store is the S3 backend.
type Store struct {
	cfg     Config
	client  *s3.Client
	presign *s3.PresignClient
}

var (
	_ storage.Store     = (*Store)(nil)
	_ storage.Presigner = (*Store)(nil)
)

// Open connects to the bucket and checks that it is there.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	client := s3.New(s3.Options{
		Region:                     cfg.Region,
		BaseEndpoint:               aws.String(cfg.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		HTTPClient:                 &http.Client{Transport: tr},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,

		DisableLogOutputChecksumValidationSkipped: true,
	})
	s := &Store{cfg: cfg, client: client, presign: s3.NewPresignClient(client)}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, fmt.Errorf("blob store: %s: %w", cfg, err)
	}
	return s, nil
}

// Close releases idle connections.
func (s *Store) Close() error { return nil }

func (s *Store) objectKey(id string) *string  { return aws.String(s.cfg.Prefix + "objects/" + id) }
func (s *Store) recordKey(key string) *string { return aws.String(s.cfg.Prefix + "records/" + key) }
func (s *Store) bucket() *string              { return aws.String(s.cfg.Bucket) }

// notFound reports whether err says the object, upload or key is absent.
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchUpload", "NotFound":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if notFound(err) {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func checkID(id string) error {
	if !storage.ValidID(id) {
		return fmt.Errorf("%w: blob id %q", storage.ErrInvalidKey, id)
	}
	return nil
}

// BeginUpload starts a multipart upload; its UploadId is the handle.
func (s *Store) BeginUpload(ctx context.Context, id string, size int64) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if size < 0 {
		return "", fmt.Errorf("s3: negative size %d", size)
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: s.bucket(), Key: s.objectKey(id), ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return "", fmt.Errorf("blob store: starting the upload of %s: %w", id, err)
	}
	return strconv.FormatInt(size, 10) + "." + aws.ToString(out.UploadId), nil
}

// parseHandle splits a handle into the blob's size and the UploadId.
func parseHandle(id, handle string) (int64, string, error) {
	sz, uploadID, ok := strings.Cut(handle, ".")
	size, err := strconv.ParseInt(sz, 10, 64)
	if !ok || err != nil || size < 0 || uploadID == "" {
		return 0, "", fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
	}
	return size, uploadID, nil
}

// PutChunk uploads part index+1.
func (s *Store) PutChunk(ctx context.Context, id, handle string, index int, data []byte) error {
	if err := checkID(id); err != nil {
		return err
	}
	_, uploadID, err := parseHandle(id, handle)
	if err != nil {
		return err
	}
	if index < 0 || index >= 10000 || len(data) == 0 || len(data) > storage.ChunkSize {
		return fmt.Errorf("s3: chunk %d of %d bytes is out of range", index, len(data))
	}
	body := &borrowedReader{r: bytes.NewReader(data)}
	defer body.end()
	_, err = s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: s.bucket(), Key: s.objectKey(id), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(int32(index + 1)), ContentLength: aws.Int64(int64(len(data))),
		Body: body,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil && !notFound(err) {
		// Some servers (versitygw) refuse a part for an upload that no
		// longer exists by resetting the connection before reading the
		// body, so the SDK reports a transport error. Ask about the upload
		// itself to tell "gone" from a network failure.
		_, lerr := s.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: s.bucket(), Key: s.objectKey(id), UploadId: aws.String(uploadID), MaxParts: aws.Int32(1),
		})
		if notFound(lerr) {
			err = lerr
		}
	}
	return wrap(err, "blob store: chunk "+fmt.Sprint(index)+" of "+id)
}

// borrowedReader reads the caller's chunk until PutChunk returns, and
// nothing after: an HTTP transport may go on reading a request body after
// the request has failed, and the caller reuses its buffer. It can seek,
// so that the SDK can send the part again.
type borrowedReader struct {
	mu    sync.Mutex
	r     *bytes.Reader
	ended bool
}

var errBodyEnded = errors.New("s3: the part's request ended")

func (b *borrowedReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return 0, errBodyEnded
	}
	return b.r.Read(p)
}

func (b *borrowedReader) Seek(off int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return 0, errBodyEnded
	}
	return b.r.Seek(off, whence)
}

func (b *borrowedReader) end() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
}

// parts lists the parts of an upload that have the right length: chunk
// index → part.
func (s *Store) parts(ctx context.Context, id, handle string) (map[int]types.Part, error) {
	size, uploadID, err := parseHandle(id, handle)
	if err != nil {
		return nil, err
	}
	out := map[int]types.Part{}
	n := storage.NumChunks(size)
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: s.bucket(), Key: s.objectKey(id), UploadId: aws.String(uploadID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "blob store: listing the chunks of "+id)
		}
		for _, part := range page.Parts {
			i := int(aws.ToInt32(part.PartNumber)) - 1
			if i >= 0 && i < n && aws.ToInt64(part.Size) == storage.ChunkLen(i, size) {
				out[i] = part
			}
		}
	}
	return out, nil
}

// Chunks lists the upload's parts.
func (s *Store) Chunks(ctx context.Context, id, handle string) ([]int, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	parts, err := s.parts(ctx, id, handle)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for i := range parts {
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}

// Commit completes the multipart upload once every part is there.
func (s *Store) Commit(ctx context.Context, id, handle string, size int64) error {
	if err := checkID(id); err != nil {
		return err
	}
	hsize, uploadID, err := parseHandle(id, handle)
	if err != nil {
		return err
	}
	if hsize != size {
		return fmt.Errorf("s3: commit of %s with size %d, begun with %d", id, size, hsize)
	}
	parts, err := s.parts(ctx, id, handle)
	if errors.Is(err, storage.ErrNotFound) {
		// Completed already, or never begun.
		if _, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: s.bucket(), Key: s.objectKey(id)}); herr == nil {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if size == 0 {
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: s.bucket(), Key: s.objectKey(id), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)}); err != nil {
			return fmt.Errorf("blob store: storing empty blob %s: %w", id, err)
		}
		s.AbortUpload(ctx, id, handle)
		return nil
	}
	var done []types.CompletedPart
	for i := range storage.NumChunks(size) {
		p, ok := parts[i]
		if !ok {
			return fmt.Errorf("upload %s chunk %d: %w", id, i, storage.ErrIncomplete)
		}
		done = append(done, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: s.bucket(), Key: s.objectKey(id), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidPart" || ae.ErrorCode() == "InvalidPartOrder" || ae.ErrorCode() == "EntityTooSmall") {
		// A part replaced between ListParts and here: try again later.
		return fmt.Errorf("upload %s: %v: %w", id, err, storage.ErrIncomplete)
	}
	return wrap(err, "blob store: committing "+id)
}

// AbortUpload aborts the multipart upload.
func (s *Store) AbortUpload(ctx context.Context, id, handle string) error {
	if err := checkID(id); err != nil {
		return err
	}
	_, uploadID, err := parseHandle(id, handle)
	if err != nil {
		return nil // no such upload
	}
	_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: s.bucket(), Key: s.objectKey(id), UploadId: aws.String(uploadID)})
	if err != nil && notFound(err) {
		return nil
	}
	return wrap(err, "blob store: aborting the upload of "+id)
}

// Open reads a byte range of the object with one GET.
func (s *Store) Open(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("s3: invalid range %d+%d", off, n)
	}
	if n == 0 {
		if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: s.bucket(), Key: s.objectKey(id)}); err != nil {
			return nil, wrap(err, "blob store: "+id)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: s.bucket(), Key: s.objectKey(id), Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		return nil, wrap(err, "blob store: reading "+id)
	}
	if out.ContentLength != nil && *out.ContentLength != n {
		out.Body.Close()
		return nil, fmt.Errorf("blob store: reading %s: asked for %d bytes, got %d", id, n, *out.ContentLength)
	}
	return out.Body, nil
}

// Delete deletes the object (and any upload still in progress for it is
// left to AbortUpload).
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: s.bucket(), Key: s.objectKey(id)})
	if err != nil && notFound(err) {
		return nil
	}
	return wrap(err, "blob store: deleting "+id)
}

// PresignGet returns a URL that GETs the object for ttl.
func (s *Store) PresignGet(ctx context.Context, id string, ttl time.Duration) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: s.bucket(), Key: s.objectKey(id)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

func checkKey(key string) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("%w: record key %q", storage.ErrInvalidKey, key)
	}
	return nil
}

// PutRecord writes the record's object (S3 replaces objects atomically).
func (s *Store) PutRecord(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: s.bucket(), Key: s.recordKey(key), Body: bytes.NewReader(value), ContentLength: aws.Int64(int64(len(value))),
	})
	return wrap(err, "blob store: writing record "+key)
}

// GetRecord reads the record's object.
func (s *Store) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: s.bucket(), Key: s.recordKey(key)})
	if err != nil {
		return nil, wrap(err, "blob store: reading record "+key)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 2<<20))
	if err != nil {
		return nil, fmt.Errorf("blob store: reading record %s: %w", key, err)
	}
	return b, nil
}

// DeleteRecord deletes the record's object.
func (s *Store) DeleteRecord(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: s.bucket(), Key: s.recordKey(key)})
	if err != nil && notFound(err) {
		return nil
	}
	return wrap(err, "blob store: deleting record "+key)
}

// ListRecords lists the record objects under prefix; S3 lists keys in
// byte order.
func (s *Store) ListRecords(ctx context.Context, prefix string, fn func(key string) error) error {
	if !storage.ValidPrefix(prefix) {
		return fmt.Errorf("%w: record prefix %q", storage.ErrInvalidKey, prefix)
	}
	base := s.cfg.Prefix + "records/"
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: s.bucket(), Prefix: aws.String(base + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob store: listing records %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), base)
			if !storage.ValidKey(key) {
				continue
			}
			if err := fn(key); err != nil {
				if errors.Is(err, storage.ErrStop) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}
