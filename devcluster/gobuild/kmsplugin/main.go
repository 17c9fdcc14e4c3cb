// Command kmsplugin is a small Kubernetes KMS v2 plugin for Ferris's tests and local cluster:
// the KMS v2 gRPC API (Status, Encrypt, Decrypt) on a Unix socket, with AES-256-GCM keys read
// from a directory. It stands in for the cloud plugins (AWS, Azure, GCP, Vault) that hold the
// key-encryption key in production; it is not one of them and keeps its keys in files.
//
// The directory holds one file per key, named by its id, with 32 random bytes in base64, and a
// file "active" naming the key that encrypts. Both are read on every call, so writing a new key
// and pointing "active" at it is a rotation. A file "unhealthy" makes Status report its text
// instead of "ok" (a KMS that is up but failing).
package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/kms/pkg/service"
)

const annotation = "kms.ferris.io"

type keyDir struct{ path string }

func (d keyDir) read(name string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(d.path, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

func (d keyDir) active() (string, error) {
	id, err := d.read("active")
	if err != nil || id == "" {
		return "", fmt.Errorf("no active key in %s", d.path)
	}
	return id, nil
}

func (d keyDir) aead(id string) (cipher.AEAD, error) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return nil, fmt.Errorf("invalid key id %q", id)
	}
	text, err := d.read(id)
	if err != nil {
		return nil, fmt.Errorf("unknown key id %q", id)
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("key %q is not 32 bytes of base64", id)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

type plugin struct{ keys keyDir }

func (p plugin) Status(_ context.Context) (*service.StatusResponse, error) {
	id, err := p.keys.active()
	if err != nil {
		return nil, err
	}
	healthz := "ok"
	if text, err := p.keys.read("unhealthy"); err == nil {
		healthz = "unhealthy: " + text
	}
	return &service.StatusResponse{Version: "v2", Healthz: healthz, KeyID: id}, nil
}

func (p plugin) Encrypt(_ context.Context, _ string, data []byte) (*service.EncryptResponse, error) {
	id, err := p.keys.active()
	if err != nil {
		return nil, err
	}
	gcm, err := p.keys.aead(id)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return &service.EncryptResponse{
		Ciphertext:  gcm.Seal(nonce, nonce, data, []byte(id)),
		KeyID:       id,
		Annotations: map[string][]byte{annotation: []byte("aes-256-gcm")},
	}, nil
}

func (p plugin) Decrypt(_ context.Context, _ string, req *service.DecryptRequest) ([]byte, error) {
	gcm, err := p.keys.aead(req.KeyID)
	if err != nil {
		return nil, err
	}
	if string(req.Annotations[annotation]) != "aes-256-gcm" {
		return nil, errors.New("missing or unknown annotation " + annotation)
	}
	if len(req.Ciphertext) < gcm.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	nonce, body := req.Ciphertext[:gcm.NonceSize()], req.Ciphertext[gcm.NonceSize():]
	plain, err := gcm.Open(nil, nonce, body, []byte(req.KeyID))
	if err != nil {
		return nil, errors.New("ciphertext does not open with key " + req.KeyID)
	}
	return plain, nil
}

func main() {
	listen := flag.String("listen", "", "Unix socket path to serve on")
	keys := flag.String("keys", "", "directory of key files and the active marker")
	flag.Parse()
	if *listen == "" || *keys == "" {
		log.Fatal("kmsplugin: --listen and --keys are required")
	}
	_ = os.Remove(*listen)
	grpc := service.NewGRPCService(*listen, 10*time.Second, plugin{keyDir{*keys}})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		grpc.Shutdown()
	}()
	log.Printf("kmsplugin: serving KMS v2 on %s", *listen)
	if err := grpc.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
	_ = os.Remove(*listen)
}
