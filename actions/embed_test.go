package actions_test

import (
	"strings"
	"testing"

	"github.com/prereg/prereg/actions"
)

// The binary prints and installs these strings; an empty or wrong embed
// would ship a broken Action silently.
func TestEmbeddedScripts(t *testing.T) {
	tests := []struct {
		name, src, wantPrefix, wantSub string
	}{
		{"post-login", actions.PostLogin, "/**", "exports.onExecutePostLogin = async (event, api) =>"},
		{"rule", actions.Rule, "function preregRule(user, context, callback) {", "configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.src, tt.wantPrefix) {
				t.Errorf("source starts with %q, want prefix %q", tt.src[:min(len(tt.src), 40)], tt.wantPrefix)
			}
			if !strings.Contains(tt.src, tt.wantSub) {
				t.Errorf("source lacks %q", tt.wantSub)
			}
			if strings.Contains(tt.src, "\r") {
				t.Error("source has carriage returns")
			}
		})
	}
	if !strings.HasSuffix(strings.TrimSpace(actions.Rule), "}") {
		t.Error("rule is not a single function expression ending in }")
	}
}
