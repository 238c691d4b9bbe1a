package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// serviceLinkVariable matches the variables that Kubernetes (service links,
// on by default) and Docker's legacy --link put into a container for a
// service named socialbridge: SOCIALBRIDGE_SERVICE_HOST,
// SOCIALBRIDGE_SERVICE_PORT[_NAME], SOCIALBRIDGE_PORT and
// SOCIALBRIDGE_PORT_8080_TCP[_PROTO|_PORT|_ADDR]. They are not ours, and
// refusing them would stop every such deployment.
var serviceLinkVariable = regexp.MustCompile(`^SOCIALBRIDGE_(SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

// unknownVariables describes, sorted by name, each variable among names
// that starts with SOCIALBRIDGE_ (in any case), is set to something and
// configures nothing, with the known variable closest to it. An empty
// variable counts as unset, here as everywhere.
func unknownVariables(names []string, getenv func(string) string, cfg *Config) []string {
	known := knownVariables(cfg)
	names = slices.Sorted(slices.Values(names))
	var out []string
	for _, name := range slices.Compact(names) {
		if !strings.HasPrefix(strings.ToUpper(name), "SOCIALBRIDGE_") || slices.Contains(known, name) || getenv(name) == "" ||
			serviceLinkVariable.MatchString(name) {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(name), "SOCIALBRIDGE_CLIENTS") {
			out = append(out, name+": not a socialbridge variable (clients come from the config file only)")
			continue
		}
		out = append(out, fmt.Sprintf("%s: not a socialbridge variable (did you mean %s?)", name, closest(name, known)))
	}
	return out
}

// knownVariables lists every variable Load reads, and the config file's:
// those of every fixed key, and those of every provider instance cfg has
// and every instance a provider type's variables would create.
func knownVariables(cfg *Config) []string {
	known := append([]string{ConfigFileVariable}, structVariables(reflect.TypeFor[Config](), "")...)
	if cfg == nil {
		return known
	}
	for _, inst := range cfg.Providers.Instances {
		known = append(known, instanceVariables(&inst, joinKey("providers", inst.Name))...)
	}
	for _, t := range cfg.providerTypes {
		inst := ProviderInstance{Name: t.Name, Settings: t.NewSettings()}
		known = append(known, instanceVariables(&inst, joinKey("providers", t.Name))...)
	}
	return known
}

// structVariables lists the variables of the keys of struct type t at
// path (X and X_FILE for each leaf).
func structVariables(t reflect.Type, path string) []string {
	var known []string
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		ft := t.Field(i).Type
		switch {
		case key == "":
		case ft == providersType:
			// Instances: see knownVariables.
		case ft.Kind() == reflect.Struct:
			known = append(known, structVariables(ft, joinKey(path, key))...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			// clients, claims: file only.
		case strings.HasSuffix(key, "_file") && hasKey(t, strings.TrimSuffix(key, "_file")):
			// x_file is set by X_FILE, listed with x.
		default:
			name := envName(joinKey(path, key))
			known = append(known, name, name+"_FILE")
		}
	}
	return known
}

// hasKey reports whether struct type t has the YAML key key.
func hasKey(t reflect.Type, key string) bool {
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k == key {
			return true
		}
	}
	return false
}

// closest returns the candidate nearest to s by edit distance, ignoring
// case; the first one on a tie.
func closest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(strings.ToUpper(s), strings.ToUpper(c)); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
