package deploy

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines around each change, as `diff -u` (and kubectl
// diff, which runs it) prints them.
const diffContext = 3

// unifiedDiff returns the unified diff (POSIX `diff -u` format, GNU diffutils' rendering) that
// turns a into b, with "--- fromName" and "+++ toName" headers (no timestamps) and hunks of
// diffContext lines of context, or "" when a == b. Lines are compared with their terminating
// newline; a last line without one is followed by `\ No newline at end of file`, as GNU diff
// prints it. An empty a or b is a missing file (`diff -N`): all lines are added or removed.
//
// The edit script is minimal (fewest inserted plus deleted lines): Myers' O(ND) algorithm in
// its linear-space form ("An O(ND) Difference Algorithm and Its Variations", 1986, section
// 4b), after removing the common prefix and suffix. devtool implements it because no unified
// diff library is a direct dependency (github.com/pmezard/go-difflib is only in the module
// graph); kubectl diff runs the system's diff program instead.
func unifiedDiff(fromName, toName, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	script := editScript(al, bl)

	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	for i := 0; i < len(script); {
		for i < len(script) && script[i].tag == ' ' {
			i++
		}
		if i == len(script) {
			break
		}
		// A hunk: the change at i, and every change after it separated from the previous one
		// by at most 2*diffContext unchanged lines, with diffContext lines around.
		start := max(i-diffContext, 0)
		last := i
		for j := i; j < len(script) && j-last <= 2*diffContext+1; j++ {
			if script[j].tag != ' ' {
				last = j
			}
		}
		end := min(last+diffContext+1, len(script))
		writeHunk(&out, script[start:end])
		i = end
	}
	return out.String()
}

// edit is one line of an edit script: ' ' kept, '-' deleted from a, '+' inserted from b.
// aPos and bPos count the lines of a and b before it.
type edit struct {
	tag        byte
	line       string
	aPos, bPos int
}

func writeHunk(out *strings.Builder, h []edit) {
	var aLen, bLen int
	for _, e := range h {
		if e.tag != '+' {
			aLen++
		}
		if e.tag != '-' {
			bLen++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(h[0].aPos, aLen), hunkRange(h[0].bPos, bLen))
	for _, e := range h {
		out.WriteByte(e.tag)
		out.WriteString(e.line)
		if !strings.HasSuffix(e.line, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats one side of a hunk header: "start,length" with 1-based lines, "start"
// alone for one line, and for an empty range the line before it (so "0,0" at the top).
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}

// splitLines splits s after each newline; a last line without one is kept.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// editScript returns the lines of a and b as a minimal edit script: kept lines, and in each
// run of changes the deletions before the insertions (as diff -u prints them).
func editScript(a, b []string) []edit {
	// Compare small integers instead of strings.
	ids := map[string]int{}
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	ai, bi := intern(a), intern(b)
	// A line that the other side does not have is always changed: leave it out of the search
	// (GNU diff discards such lines too), which makes replacing a whole object fast.
	inA, inB := map[int]bool{}, map[int]bool{}
	for _, id := range ai {
		inA[id] = true
	}
	for _, id := range bi {
		inB[id] = true
	}
	m := &myers{}
	var aIdx, bIdx []int // index in a (b) of each line of m.a (m.b)
	for i, id := range ai {
		if inB[id] {
			m.a, aIdx = append(m.a, id), append(aIdx, i)
		}
	}
	for j, id := range bi {
		if inA[id] {
			m.b, bIdx = append(m.b, id), append(bIdx, j)
		}
	}
	m.delA = make([]bool, len(m.a))
	m.insB = make([]bool, len(m.b))
	m.compare(0, len(m.a), 0, len(m.b))
	delA, insB := make([]bool, len(a)), make([]bool, len(b))
	for i := range delA {
		delA[i] = true
	}
	for j := range insB {
		insB[j] = true
	}
	for i, orig := range aIdx {
		delA[orig] = m.delA[i]
	}
	for j, orig := range bIdx {
		insB[orig] = m.insB[j]
	}

	script := make([]edit, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if i < len(a) && j < len(b) && !delA[i] && !insB[j] {
			script = append(script, edit{' ', a[i], i, j})
			i, j = i+1, j+1
			continue
		}
		for i < len(a) && delA[i] {
			script = append(script, edit{'-', a[i], i, j})
			i++
		}
		for j < len(b) && insB[j] {
			script = append(script, edit{'+', b[j], i, j})
			j++
		}
	}
	return script
}

// myers marks the lines of a to delete and of b to insert.
type myers struct {
	a, b       []int
	delA, insB []bool
}

// compare marks a minimal edit script for a[aLo:aHi] → b[bLo:bHi].
func (m *myers) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && m.a[aLo] == m.b[bLo] {
		aLo, bLo = aLo+1, bLo+1
	}
	for aLo < aHi && bLo < bHi && m.a[aHi-1] == m.b[bHi-1] {
		aHi, bHi = aHi-1, bHi-1
	}
	switch {
	case aLo == aHi:
		for j := bLo; j < bHi; j++ {
			m.insB[j] = true
		}
	case bLo == bHi:
		for i := aLo; i < aHi; i++ {
			m.delA[i] = true
		}
	default:
		// Both sides are non-empty and differ at both ends, so the edit distance D is at least
		// 2 and the split point is neither corner: both halves are smaller problems.
		x, y := m.split(aLo, aHi, bLo, bHi)
		if (x == aLo && y == bLo) || (x == aHi && y == bHi) || x < aLo || x > aHi || y < bLo || y > bHi {
			// Defensive (split does not return these): replace the whole range rather than
			// recurse forever.
			for i := aLo; i < aHi; i++ {
				m.delA[i] = true
			}
			for j := bLo; j < bHi; j++ {
				m.insB[j] = true
			}
			return
		}
		m.compare(aLo, x, bLo, y)
		m.compare(x, aHi, y, bHi)
	}
}

// split returns a point (x, y) on a minimal edit path of a[aLo:aHi] → b[bLo:bHi], about half
// way: Myers' "middle snake", found by running the greedy algorithm forward from the top left
// and backward from the bottom right until their furthest-reaching paths meet on a diagonal.
// Diagonal k holds the points with x - y = k; the backward search works in mirrored
// coordinates (x, y counted from aHi, bHi), where the forward diagonal k is delta - k. Paths
// that leave the grid are dropped (as diff-match-patch's bisect does), so every point compared
// is a real one.
func (m *myers) split(aLo, aHi, bLo, bHi int) (int, int) {
	n, mm := aHi-aLo, bHi-bLo
	maxD := (n + mm + 1) / 2
	off := maxD + 1
	size := 2*off + 1
	vf := make([]int, size) // forward: furthest x reached on each diagonal, -1 if none
	vb := make([]int, size) // backward, mirrored
	for i := range vf {
		vf[i], vb[i] = -1, -1
	}
	vf[off+1], vb[off+1] = 0, 0
	delta := n - mm
	odd := delta%2 != 0
	var fStart, fEnd, bStart, bEnd int // diagonals dropped at each end (paths off the grid)
	for d := 0; d <= maxD; d++ {
		for k := -d + fStart; k <= d-fEnd; k += 2 {
			x := furthest(vf, off, k, d)
			y := x - k
			for x < n && y < mm && m.a[aLo+x] == m.b[bLo+y] {
				x, y = x+1, y+1
			}
			vf[off+k] = x
			switch {
			case x > n:
				fEnd += 2
			case y > mm:
				fStart += 2
			case odd:
				if i := off + delta - k; i >= 0 && i < size && vb[i] >= 0 && x >= n-vb[i] {
					return aLo + x, bLo + y
				}
			}
		}
		for k := -d + bStart; k <= d-bEnd; k += 2 {
			x := furthest(vb, off, k, d)
			y := x - k
			for x < n && y < mm && m.a[aHi-1-x] == m.b[bHi-1-y] {
				x, y = x+1, y+1
			}
			vb[off+k] = x
			switch {
			case x > n:
				bEnd += 2
			case y > mm:
				bStart += 2
			case !odd:
				if i := off + delta - k; i >= 0 && i < size && vf[i] >= 0 && vf[i] >= n-x {
					return aHi - x, bHi - y
				}
			}
		}
	}
	// Not reached: the paths meet within maxD steps each.
	return aLo + n/2, bLo + mm/2
}

// furthest is the greedy step of Myers' algorithm: the furthest x a path with one more edit
// reaches on diagonal k, from diagonal k+1 (an insertion: x stays) or k-1 (a deletion: x+1).
func furthest(v []int, off, k, d int) int {
	if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
		return v[off+k+1]
	}
	return v[off+k-1] + 1
}
