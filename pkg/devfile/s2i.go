package devfile

import (
	"fmt"
	"sort"
	"strings"
)

// s2iFields are the settings of a source-to-image build (the outer-loop proposal's `s2i:`).
var s2iFields = []string{"builderImage", "builderImageNamespace", "builderImageStreamTag", "scriptLocation", "incrementalBuild"}

// s2iStandIn is the dockerfile uri of the image component that replaces a source-to-image
// image in what the devfile library sees: the published schema (2.0.0–2.3.0) has no `s2i`
// image type (an image must have a dockerfile) and no `custom` component, so the library
// refuses both spellings. applyS2I puts the S2I model back in its place.
const s2iStandIn = "devtool-s2i-stand-in.Dockerfile"

// extractS2I finds the source-to-image components of doc, the raw devfile file (both
// spellings: `image: {imageName, s2i: {…}}` and `custom` with `componentClass: s2i` whose
// embeddedResource holds imageName, autoBuild and the s2i settings), replaces each in doc by
// an image component with a stand-in dockerfile and returns them by component name. Problems
// are one *ValidationError naming each component.
func extractS2I(file string, doc map[string]any) (map[string]*S2I, error) {
	comps, _ := doc["components"].([]any)
	var out map[string]*S2I
	ve := &ValidationError{File: file}
	for i, c := range comps {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		name, _ := cm["name"].(string)
		path := componentPath(name)
		var settings any
		var field string
		image := map[string]any{}
		switch {
		case isImageS2I(cm["image"]):
			img := cm["image"].(map[string]any)
			if img["dockerfile"] != nil {
				ve.Problems = append(ve.Problems, Problem{Path: path + ".image", Message: "set exactly one of dockerfile and s2i: an image is built either from a Dockerfile or with source-to-image"})
				continue
			}
			for k, v := range img {
				if k != "s2i" {
					image[k] = v
				}
			}
			settings, field = img["s2i"], "image.s2i"
		case isCustomClass(cm["custom"], "s2i"):
			custom := cm["custom"].(map[string]any)
			for k := range custom {
				if k != "componentClass" && k != "embeddedResource" {
					ve.Problems = append(ve.Problems, Problem{Path: path + ".custom", Message: fmt.Sprintf("unknown field %q (a custom component has componentClass and embeddedResource)", k)})
				}
			}
			res, ok := custom["embeddedResource"].(map[string]any)
			if !ok {
				ve.Problems = append(ve.Problems, Problem{Path: path + ".custom", Message: "componentClass s2i needs an embeddedResource mapping holding imageName and the s2i settings (builderImage, …)"})
				continue
			}
			settings = map[string]any{}
			for k, v := range res {
				switch k {
				case "imageName", "autoBuild":
					image[k] = v
				default:
					settings.(map[string]any)[k] = v
				}
			}
			if s, ok := image["imageName"].(string); !ok || s == "" {
				ve.Problems = append(ve.Problems, Problem{Path: path + ".custom.embeddedResource.imageName", Message: "is required: the name of the image to build (a full reference or a name relative to --image-registry)"})
				continue
			}
			field = "custom.embeddedResource"
		default:
			continue
		}
		s, problems := parseS2I(path+"."+field, settings)
		ve.Problems = append(ve.Problems, problems...)
		if len(problems) > 0 {
			continue
		}
		s.Field = field
		if out == nil {
			out = map[string]*S2I{}
		}
		out[name] = s
		image["dockerfile"] = map[string]any{"uri": s2iStandIn}
		standIn := map[string]any{"name": name, "image": image}
		if a, ok := cm["attributes"]; ok {
			standIn["attributes"] = a
		}
		comps[i] = standIn
	}
	if len(ve.Problems) > 0 {
		return nil, ve
	}
	return out, nil
}

// isImageS2I reports whether v is an image component's body with an s2i field.
func isImageS2I(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["s2i"]
	return ok
}

// isCustomClass reports whether v is a custom component's body with componentClass class.
func isCustomClass(v any, class string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	c, _ := m["componentClass"].(string)
	return strings.EqualFold(c, class)
}

// parseS2I reads the source-to-image settings written at path.
func parseS2I(path string, v any) (*S2I, []Problem) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []Problem{{Path: path, Message: fmt.Sprintf("must be a mapping with the source-to-image settings (%s), not %s", strings.Join(s2iFields, ", "), yamlKind(v))}}
	}
	var problems []Problem
	bad := func(field, format string, args ...any) {
		problems = append(problems, Problem{Path: path + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	var unknown []string
	for k := range m {
		known := false
		for _, f := range s2iFields {
			known = known || f == k
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf("unknown field %q (source-to-image settings are %s)", k, strings.Join(s2iFields, ", "))})
	}
	str := func(field string) string {
		v, ok := m[field]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			bad(field, "must be a string, not %s", yamlKind(v))
		}
		return s
	}
	s := &S2I{
		BuilderImage:          str("builderImage"),
		BuilderImageNamespace: str("builderImageNamespace"),
		BuilderImageStreamTag: str("builderImageStreamTag"),
	}
	switch {
	case s.BuilderImage != "" && s.BuilderImageStreamTag != "":
		bad("builderImage", "%q: set either builderImage or builderImageStreamTag (an OpenShift image stream tag), not both", s.BuilderImage)
	case s.BuilderImage == "" && s.BuilderImageStreamTag == "" && len(problems) == 0:
		bad("builderImage", "is required: the source-to-image builder image, e.g. registry.access.redhat.com/ubi9/python-311 (or builderImageStreamTag with builderImageNamespace on OpenShift)")
	case s.BuilderImageNamespace != "" && s.BuilderImageStreamTag == "":
		bad("builderImageNamespace", "%q: only means something with builderImageStreamTag (name:tag of an image stream in that namespace)", s.BuilderImageNamespace)
	}
	if v, ok := m["scriptLocation"]; ok && v != nil {
		switch t := v.(type) {
		case string:
			s.ScriptLocation = t
			if err := checkScriptLocation(t); err != "" {
				bad("scriptLocation", "%q: %s", t, err)
			}
		case map[string]any:
			bad("scriptLocation", "git remotes are not fetched by devtool; give the scripts' directory as a path relative to the devfile, an image:///dir inside the builder image, or an http(s) URL")
		default:
			bad("scriptLocation", "must be a string (a path relative to the devfile, image:///dir or an http(s) URL), not %s", yamlKind(v))
		}
	}
	if v, ok := m["incrementalBuild"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			bad("incrementalBuild", "must be true or false")
		} else {
			s.IncrementalBuild = &b
		}
	}
	return s, problems
}

// checkScriptLocation returns why loc is not a script location devtool accepts, or "".
func checkScriptLocation(loc string) string {
	switch {
	case loc == "":
		return "is empty; remove it to use the builder image's scripts"
	case strings.HasPrefix(loc, "image://"), strings.HasPrefix(loc, "http://"), strings.HasPrefix(loc, "https://"):
		return ""
	case strings.HasPrefix(loc, "file://"):
		return "write a local scripts directory as a path relative to the devfile (e.g. .s2i/bin), not a file:// URL"
	case strings.Contains(loc, "://"):
		return "unsupported scheme; use a path relative to the devfile, image:///dir or an http(s) URL"
	}
	return ""
}

// allS2I returns the source-to-image components of f and every file below it, by name.
func (f *rawFile) allS2I() (map[string]*S2I, error) {
	out := map[string]*S2I{}
	from := map[string]string{}
	for _, r := range append([]*rawFile{f}, f.descendants()...) {
		for name, s := range r.s2i {
			if prev, dup := from[name]; dup {
				return nil, invalid(f.path, componentPath(name), "source-to-image component %q is defined in %s and in %s; component names must be unique", name, prev, r.path)
			}
			from[name], out[name] = r.path, s
		}
	}
	return out, nil
}

// applyS2I puts the source-to-image settings back in place of their stand-in Dockerfiles.
func applyS2I(d *Devfile, s2i map[string]*S2I) {
	for i := range d.Components {
		c := &d.Components[i]
		s, ok := s2i[c.Name]
		if !ok || c.Image == nil || c.Image.Dockerfile == nil || c.Image.Dockerfile.URI != s2iStandIn {
			continue
		}
		c.Image.Dockerfile, c.Image.S2I = nil, s
	}
}
