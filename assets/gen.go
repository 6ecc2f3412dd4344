package assets

//go:generate go run ./internal/gen -out .
