"""The Ferris server: the user API over run history, each request made as the user and
authorised by the cluster's RBAC (identity, authz), with its route table (api), query and body
rules (queries), answers (views) and OpenAPI document (openapi); `main` is `ferris-server`."""
