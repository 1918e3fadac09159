package build

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// PulledImages lists the images a Dockerfile pulls (FROM, COPY/ADD --from, RUN
// --mount=…,from=), build args ("KEY=VALUE"; "KEY" alone unsets nothing) overriding the defaults of ARGs declared before the first FROM, as in docker; unresolved is true when
// some reference could not be expanded.
func PulledImages(dockerfile []byte, args []string) (images []string, unresolved bool) {
	vars := map[string]string{}
	override := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			override[k] = v
		} else {
			delete(override, k)
		}
	}
	stages := map[string]bool{}
	seenFrom := false
	for _, ins := range instructions(dockerfile) {
		fields := strings.Fields(ins)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if seenFrom {
				continue
			}
			for _, decl := range fields[1:] {
				k, v, _ := strings.Cut(decl, "=")
				if ov, ok := override[k]; ok {
					v = ov
				}
				vars[k] = strings.Trim(v, `"'`)
			}
		case "FROM":
			seenFrom = true
			rest := nonFlags(fields[1:])
			if len(rest) == 0 {
				continue
			}
			img, ok := expand(rest[0], vars)
			if !ok {
				unresolved = true
				continue
			}
			if lower := strings.ToLower(img); lower != "scratch" && !stages[lower] {
				images = append(images, img)
			}
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		case "COPY", "ADD", "RUN":
			for _, f := range fields[1:] {
				if !strings.HasPrefix(f, "--") {
					break // flags come first
				}
				from, ok := fromFlag(f)
				if !ok {
					continue
				}
				if _, err := strconv.Atoi(from); err == nil || stages[strings.ToLower(from)] {
					continue
				}
				if strings.Contains(from, "$") {
					unresolved = true
					continue
				}
				images = append(images, from)
			}
		}
	}
	return images, unresolved
}

// instructions splits a Dockerfile into instructions: comments and blank lines dropped,
// continuation lines (ending in the escape character, "\" or the one set by a
// "# escape=`" parser directive) joined. Heredoc bodies are not understood; they cannot hold
// FROM or COPY --from at the start of a line in practice.
func instructions(dockerfile []byte) []string {
	escape := `\`
	var out []string
	var cur strings.Builder
	directives := true
	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if directives {
			if d, ok := strings.CutPrefix(line, "#"); ok {
				k, v, found := strings.Cut(d, "=")
				if found && strings.EqualFold(strings.TrimSpace(k), "escape") {
					if v = strings.TrimSpace(v); v != "" {
						escape = v
					}
				}
				continue
			}
			directives = false
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, escape) {
			cur.WriteString(strings.TrimSuffix(line, escape))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// fromFlag returns the image or stage an instruction flag takes files from: COPY/ADD
// "--from=X", or RUN "--mount=…,from=X,…" (bind and cache mounts may name an image, which the
// engine pulls).
func fromFlag(f string) (string, bool) {
	if from, ok := strings.CutPrefix(f, "--from="); ok {
		return from, true
	}
	opts, ok := strings.CutPrefix(f, "--mount=")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "from="); ok {
			return strings.Trim(v, `"'`), true
		}
	}
	return "", false
}

func nonFlags(fields []string) []string {
	for i, f := range fields {
		if !strings.HasPrefix(f, "--") {
			return fields[i:]
		}
	}
	return nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:[-+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alt} from vars. ok is false when
// a variable without a default is not declared (the image cannot be known).
func expand(s string, vars map[string]string) (string, bool) {
	ok := true
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		k, mod := sub[1], sub[2]
		if k == "" {
			k = sub[3]
		}
		v, set := vars[k]
		switch {
		case strings.HasPrefix(mod, ":-"):
			if !set || v == "" {
				return mod[2:]
			}
			return v
		case strings.HasPrefix(mod, ":+"):
			if set && v != "" {
				return mod[2:]
			}
			return ""
		}
		if !set {
			ok = false
		}
		return v
	})
	return out, ok
}
