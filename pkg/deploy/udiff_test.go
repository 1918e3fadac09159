package deploy

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnifiedDiffGolden pins the output format. Every want was produced by GNU diffutils 3.8
// (`diff -u` with the timestamps removed from the --- and +++ lines) on the same inputs.
func TestUnifiedDiffGolden(t *testing.T) {
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	num := func(i int) string { return strconv.Itoa(i) }
	tests := []struct {
		name, a, b, want string
	}{
		{name: "equal", a: "x\ny\n", b: "x\ny\n", want: ""},
		{name: "both empty", a: "", b: "", want: ""},
		{
			name: "created (diff -N)", a: "", b: "a: 1\nb: 2\n",
			want: "--- L\n+++ M\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n",
		},
		{
			name: "deleted (diff -N)", a: "a: 1\n", b: "",
			want: "--- L\n+++ M\n@@ -1 +0,0 @@\n-a: 1\n",
		},
		{
			name: "one line changed in the middle",
			a:    lines(10, num),
			b:    lines(10, func(i int) string { return map[bool]string{true: "five", false: num(i)}[i == 5] }),
			want: "--- L\n+++ M\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		{
			// Changes 7 unchanged lines apart: two hunks.
			name: "two hunks",
			a:    lines(20, num),
			b: lines(20, func(i int) string {
				if i == 3 || i == 11 {
					return "x" + num(i)
				}
				return num(i)
			}),
			want: "--- L\n+++ M\n@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+x3\n 4\n 5\n 6\n@@ -8,7 +8,7 @@\n 8\n 9\n 10\n-11\n+x11\n 12\n 13\n 14\n",
		},
		{
			// Changes 6 unchanged lines apart: their context touches, one hunk.
			name: "contexts touch",
			a:    lines(20, num),
			b: lines(20, func(i int) string {
				if i == 3 || i == 10 {
					return "x" + num(i)
				}
				return num(i)
			}),
			want: "--- L\n+++ M\n@@ -1,13 +1,13 @@\n 1\n 2\n-3\n+x3\n 4\n 5\n 6\n 7\n 8\n 9\n-10\n+x10\n 11\n 12\n 13\n",
		},
		{
			name: "insertion at the top",
			a:    "a\nb\nc\nd\n", b: "new\na\nb\nc\nd\n",
			want: "--- L\n+++ M\n@@ -1,3 +1,4 @@\n+new\n a\n b\n c\n",
		},
		{
			name: "deletion at the end",
			a:    "a\nb\nc\nd\ne\n", b: "a\nb\nc\nd\n",
			want: "--- L\n+++ M\n@@ -2,4 +2,3 @@\n b\n c\n d\n-e\n",
		},
		{
			name: "no newline at end of file",
			a:    "a\nb", b: "a\nc",
			want: "--- L\n+++ M\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n",
		},
		{
			name: "yaml field added and changed",
			a:    "apiVersion: v1\ndata:\n  GREETING: Hello\nkind: ConfigMap\nmetadata:\n  name: hello-config\n",
			b:    "apiVersion: v1\ndata:\n  GREETING: Bonjour\n  LANG: fr\nkind: ConfigMap\nmetadata:\n  name: hello-config\n",
			want: "--- L\n+++ M\n@@ -1,6 +1,7 @@\n apiVersion: v1\n data:\n-  GREETING: Hello\n+  GREETING: Bonjour\n+  LANG: fr\n kind: ConfigMap\n metadata:\n   name: hello-config\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, unifiedDiff("L", "M", tt.a, tt.b)); diff != "" {
				t.Errorf("unifiedDiff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnifiedDiffRandom checks, on random inputs over a small alphabet (many equal lines, so
// many alternative alignments), that the diff applied to a gives b, that every hunk header
// counts its lines, that hunks have at most diffContext lines of context at their ends, and
// that the edit script is minimal (its changed lines equal len(a)+len(b)-2·LCS, with the LCS
// from dynamic programming).
func TestUnifiedDiffRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		alphabet := 1 + r.IntN(5)
		gen := func() []string {
			n := r.IntN(25)
			if iter%10 == 0 {
				n = r.IntN(200)
			}
			out := make([]string, n)
			for i := range out {
				out[i] = string(rune('a'+r.IntN(alphabet))) + "\n"
			}
			return out
		}
		al, bl := gen(), gen()
		if iter%7 == 0 && len(bl) > 0 {
			bl[len(bl)-1] = strings.TrimSuffix(bl[len(bl)-1], "\n") // no newline at end
		}
		a, b := strings.Join(al, ""), strings.Join(bl, "")
		d := unifiedDiff("L", "M", a, b)
		if a == b {
			if d != "" {
				t.Fatalf("equal inputs gave a diff:\n%s", d)
			}
			continue
		}
		got, changed, err := applyUnified(a, d)
		if err != nil {
			t.Fatalf("a=%q b=%q: %v\n%s", a, b, err, d)
		}
		if got != b {
			t.Fatalf("a=%q b=%q: patched a = %q\n%s", a, b, got, d)
		}
		if want := len(splitLines(a)) + len(splitLines(b)) - 2*lcs(splitLines(a), splitLines(b)); changed != want {
			t.Fatalf("a=%q b=%q: %d changed lines, minimal is %d\n%s", a, b, changed, want, d)
		}
	}
}

// TestUnifiedDiffLarge: a 20 000-line input with a few changes is diffed quickly and in small
// memory (the linear-space algorithm), and so are completely different inputs (their lines are
// left out of the search) and reversed ones.
func TestUnifiedDiffLarge(t *testing.T) {
	var a, b, c strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&a, "line %d\n", i)
		if i%5000 == 17 {
			fmt.Fprintf(&b, "changed %d\n", i)
		} else {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		fmt.Fprintf(&c, "other %d\n", i)
	}
	d := unifiedDiff("L", "M", a.String(), b.String())
	if n := strings.Count(d, "\n@@ "); n != 4 {
		t.Errorf("%d hunks, want 4:\n%s", n, d)
	}
	d = unifiedDiff("L", "M", a.String(), c.String())
	if got, _, err := applyUnified(a.String(), d); err != nil || got != c.String() {
		t.Errorf("completely different inputs: the diff does not apply (%v)", err)
	}
	// The same lines in reverse order: the longest path through the search (D ≈ 2n).
	lines := splitLines(a.String())[:3000]
	rev := make([]string, len(lines))
	for i, l := range lines {
		rev[len(lines)-1-i] = l
	}
	d = unifiedDiff("L", "M", strings.Join(lines, ""), strings.Join(rev, ""))
	if got, changed, err := applyUnified(strings.Join(lines, ""), d); err != nil || got != strings.Join(rev, "") || changed != 2*len(lines)-2 {
		t.Errorf("reversed input: the diff does not apply or is not minimal (%d changed lines, %v)", changed, err)
	}
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// applyUnified applies a unified diff made by unifiedDiff to a, checking its structure as it
// goes, and returns the result and the number of - and + lines.
func applyUnified(a, d string) (string, int, error) {
	src := splitLines(a)
	lines := strings.SplitAfter(d, "\n")
	if len(lines) < 3 || lines[0] != "--- L\n" || lines[1] != "+++ M\n" {
		return "", 0, fmt.Errorf("bad headers")
	}
	var out []string
	pos, changed := 0, 0 // lines of src consumed
	i := 2
	for i < len(lines) && lines[i] != "" {
		m := hunkHeader.FindStringSubmatch(strings.TrimSuffix(lines[i], "\n"))
		if m == nil {
			return "", 0, fmt.Errorf("line %d: not a hunk header: %q", i, lines[i])
		}
		count := func(s string) int {
			if s == "" {
				return 1
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		aStart, aLen := atoi(m[1]), count(m[2])
		bLen := count(m[4])
		if aLen > 0 {
			aStart-- // to 0-based; an empty range names the line before it
		}
		if aStart < pos {
			return "", 0, fmt.Errorf("hunk %q overlaps the previous one", lines[i])
		}
		out = append(out, src[pos:aStart]...)
		pos = aStart
		i++
		var body []string
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			i++
			if i < len(lines) && lines[i] == "\\ No newline at end of file\n" {
				l = strings.TrimSuffix(l, "\n")
				i++
			}
			body = append(body, l)
		}
		gotA, gotB := 0, 0
		for _, l := range body {
			switch l[0] {
			case ' ':
				gotA++
				gotB++
				if src[pos] != l[1:] {
					return "", 0, fmt.Errorf("context %q does not match %q", l[1:], src[pos])
				}
				out = append(out, l[1:])
				pos++
			case '-':
				gotA++
				changed++
				if src[pos] != l[1:] {
					return "", 0, fmt.Errorf("deleted %q does not match %q", l[1:], src[pos])
				}
				pos++
			case '+':
				gotB++
				changed++
				out = append(out, l[1:])
			default:
				return "", 0, fmt.Errorf("bad hunk line %q", l)
			}
		}
		if gotA != aLen || gotB != bLen {
			return "", 0, fmt.Errorf("hunk %s counts -%d +%d, has -%d +%d", m[0], aLen, bLen, gotA, gotB)
		}
		lead, trail := 0, 0
		for lead < len(body) && body[lead][0] == ' ' {
			lead++
		}
		for trail < len(body) && body[len(body)-1-trail][0] == ' ' {
			trail++
		}
		if lead > diffContext || trail > diffContext || lead == len(body) {
			return "", 0, fmt.Errorf("hunk %s has %d leading and %d trailing context lines", m[0], lead, trail)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), changed, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
