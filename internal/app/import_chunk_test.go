package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportChunk: --chunk sets the lines per transaction; a value out of
// range is refused naming the flag and its range, and imports nothing.
func TestImportChunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir}
	file := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(file, []byte("email,last_name\na@example.org,A\nb@example.org,B\nc@example.org,C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, env, "contact", "list"); err != nil {
		t.Fatalf("first command: %v", err)
	}
	for _, bad := range []string{"0", "100001"} {
		_, _, err := run(t, env, "import", "--source", "Messe", "--data-source", "self_provided", "--chunk", bad, file)
		if err == nil || !strings.Contains(err.Error(), "chunk") || !strings.Contains(err.Error(), "100000") {
			t.Fatalf("--chunk %s: %v", bad, err)
		}
	}
	// All three are new: the refused runs wrote nothing.
	out, _, err := run(t, env, "import", "--source", "Messe", "--data-source", "self_provided", "--chunk", "2", file)
	if err != nil || !strings.Contains(out, `"created": 3`) {
		t.Fatalf("import in chunks of 2: %q %v", out, err)
	}
}
