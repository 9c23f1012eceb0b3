// Package layout holds no code, only the test that enforces the import rules of
// README's layout table (Development section): which packages may link the
// gateway, chi and the Prometheus client.
package layout
