package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/socialbridge/socialbridge/providers"
)

// ConfigFileVariable names the config file when -config is not given.
const ConfigFileVariable = "SOCIALBRIDGE_CONFIG"

// Env is the environment Load reads.
type Env struct {
	// Getenv returns one variable, "" when it is unset (os.Getenv).
	Getenv func(string) string
	// Names lists the variables that are set (the names in os.Environ()),
	// so that Load finds SOCIALBRIDGE_* variables that set nothing, such
	// as a misspelt one. Nil skips that check.
	Names []string
}

// Load builds the configuration: the YAML file at path (none when path is
// empty), then environment overrides, then the *_file secrets, then the
// defaults, and finally Validate. It reads the environment only through
// env and files only through readFile, so tests need neither.
//
// types are the provider types the providers mapping may use (see
// Providers).
//
// Every key except those under clients and claims can be overridden by the variable
// SOCIALBRIDGE_<PATH>, PATH being the key path in upper case with dots
// replaced by underscores and dashes (providers.google.client_id is
// SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID); such variables also create a
// provider instance named after its type when the file has none.
// Lists are comma-separated.
// SOCIALBRIDGE_<PATH>_FILE reads the value from a file instead; for a key
// with a *_file sibling (crypto.encryption_key) that variable is the
// sibling's own override. MONGODB_URI is an alias of
// SOCIALBRIDGE_STORE_MONGODB_URI, which wins when both are set. An empty
// variable counts as unset, so the environment cannot clear a value the
// file sets. Clients come from the file only: a list of structs has no
// sensible flat variable form. Any other SOCIALBRIDGE_* variable is an
// error in production and a warning (see Warnings) in dev mode, naming the
// known variable closest to it.
//
// Load reports every problem at once, one per line: those of the file and
// the environment, then those of Validate, except the ones that follow
// from a value already reported (a duration that did not parse is not also
// "required").
func Load(path string, env Env, readFile func(string) ([]byte, error), types []providers.Type) (*Config, error) {
	cfg := &Config{providerTypes: types}
	l := loader{getenv: withMongoDBAlias(env.Getenv), readFile: readFile, failed: map[string]bool{}, types: types}
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		l.decodeFile(path, data, cfg)
	}
	l.applyEnv(reflect.ValueOf(cfg).Elem(), "")
	l.readSecretFiles(reflect.ValueOf(cfg).Elem(), "")
	if cfg.Mode == "" {
		// A config file means a deployment; running without one is the
		// zero-setup local experience, refused when the settings say
		// otherwise (see Validate).
		cfg.Mode, cfg.modeDefaulted = ModeDev, true
		if path != "" {
			cfg.Mode = ModeProduction
		}
	}
	cfg.applyDefaults()

	errs := l.errs
	for _, problem := range unknownVariables(env.Names, l.getenv, cfg) {
		if cfg.Mode == ModeDev {
			cfg.envWarnings = append(cfg.envWarnings, problem+"; ignored")
		} else {
			errs = append(errs, errors.New(problem+"; production refuses unknown SOCIALBRIDGE_* variables so that a misspelt setting is not silently ignored: rename or unset it"))
		}
	}
	for _, p := range cfg.problems() {
		if !l.reported(p.key) {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		// A misspelt variable is often why something else is missing:
		// when there is no start-up log to warn in, say it here.
		for _, w := range cfg.envWarnings {
			errs = append(errs, errors.New(w))
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// withMongoDBAlias makes MONGODB_URI stand in for an unset
// SOCIALBRIDGE_STORE_MONGODB_URI (and its _FILE form).
func withMongoDBAlias(getenv func(string) string) func(string) string {
	const name = "SOCIALBRIDGE_STORE_MONGODB_URI"
	return func(key string) string {
		v := getenv(key)
		if v == "" && key == name && getenv(name+"_FILE") == "" {
			return getenv("MONGODB_URI")
		}
		return v
	}
}

// decodeFile decodes one YAML document into cfg, strictly: unknown keys,
// duplicate keys and values of the wrong shape are errors that name the
// file, the line and the key path. A file that is not YAML at all counts
// as failing every key, so that Validate's complaints about what it would
// have set are not reported too.
func (l *loader) decodeFile(name string, data []byte, cfg *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return // empty file or only comments
	} else if err != nil {
		l.fail("", fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: ")))
		return
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		l.fail("", fmt.Errorf("%s: line %d: only one YAML document is allowed", name, next.Line))
		return
	} else if !errors.Is(err, io.EOF) {
		l.fail("", fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: ")))
		return
	}
	d := nodeDecoder{file: name, l: l}
	d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

// nodeDecoder walks a YAML node tree alongside the config struct tree. It
// is used instead of yaml's own decoding so that every error carries the
// full key path and every scalar is parsed by setScalar, the same code the
// environment goes through.
type nodeDecoder struct {
	file string
	l    *loader
}

// fail reports a value at path that could not be decoded.
func (d *nodeDecoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.l.fail(path, fmt.Errorf("%s: line %d: %s: %s", d.file, n.Line, keyOrRoot(path), fmt.Sprintf(format, args...)))
}

func (d *nodeDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value keeps the zero value, so the default applies
	}
	switch {
	case v.Type() == providersType:
		d.decodeProviders(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping of keys to values")
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := joinKey(path, key.Value)
			f, ok := fieldByKey(v, key.Value)
			switch {
			case !ok:
				// Nothing was set, so no later complaint follows from it.
				d.l.errs = append(d.l.errs, fmt.Errorf("%s: line %d: %s: unknown key; did you mean %s? (known keys here: %s)",
					d.file, key.Line, p, closest(key.Value, keys(v)), strings.Join(keys(v), ", ")))
			case seen[key.Value]:
				d.fail(key, p, "duplicate key")
			default:
				seen[key.Value] = true
				d.decode(val, f, p)
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list")
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			d.decode(item, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, v.Elem(), path)
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a single value, not a list or mapping")
			return
		}
		if err := setScalar(v, n.Value); err != nil {
			d.fail(n, path, "%v", err)
		}
	}
}

// loader decodes the file, applies the environment and reads secret
// files, collecting every error and the keys they are about.
type loader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	errs     []error
	// failed holds the key paths (without list items' ids) whose value
	// could not be read; "" stands for the whole configuration.
	failed map[string]bool
	// types are the provider types instances may have.
	types []providers.Type
}

// fail records err about the key at path.
func (l *loader) fail(path string, err error) {
	l.errs = append(l.errs, err)
	l.failed[plainKey(path)] = true
}

// reported reports whether a Validate problem about key follows from a
// value that could not be read, at key or above it.
func (l *loader) reported(key string) bool {
	key = plainKey(key)
	for f := range l.failed {
		if f == "" || key == f || strings.HasPrefix(key, f+".") || strings.HasPrefix(key, f+"[") {
			return true
		}
	}
	return false
}

// itemID matches the id that messages add to a list item's path.
var itemID = regexp.MustCompile(`(\[\d+\]) \(id "(?:[^"\\]|\\.)*"\)`)

// plainKey drops list items' ids from a key path: clients[0] (id "spa").secret
// becomes clients[0].secret.
func plainKey(path string) string { return itemID.ReplaceAllString(path, "$1") }

// applyEnv overrides every leaf of the struct v from its variable.
func (l *loader) applyEnv(v reflect.Value, path string) {
	for _, key := range keys(v) {
		f, _ := fieldByKey(v, key)
		p := joinKey(path, key)
		switch {
		case f.Type() == providersType:
			l.applyProviderEnv(f.Addr().Interface().(*Providers), p)
		case f.Kind() == reflect.Struct:
			l.applyEnv(f, p)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			// clients, claims: file only.
		case isFileKey(v, key):
			// Overridden together with its sibling, below.
		default:
			l.envLeaf(v, key, f, p)
		}
	}
}

// envLeaf overrides one leaf from SOCIALBRIDGE_<PATH> or
// SOCIALBRIDGE_<PATH>_FILE.
func (l *loader) envLeaf(parent reflect.Value, key string, f reflect.Value, path string) {
	name := envName(path)
	val, file := l.getenv(name), l.getenv(name+"_FILE")
	sibling, paired := fieldByKey(parent, key+"_file")
	switch {
	case val != "" && file != "":
		l.fail(path, fmt.Errorf("%s and %s are both set; set only one", name, name+"_FILE"))
	case val != "":
		if err := setScalar(f, val); err != nil {
			l.fail(path, fmt.Errorf("%s: %w", name, err))
		}
		if paired { // the environment replaces the file's choice of source
			sibling.SetString("")
		}
	case file != "" && paired:
		// X_FILE is the override of the x_file key, read with the others.
		sibling.SetString(file)
		f.SetString("")
	case file != "":
		data, err := l.readFile(file)
		if err != nil {
			l.fail(path, fmt.Errorf("%s_FILE: cannot read %s: %v", name, file, pathErrorCause(err)))
			return
		}
		if err := setScalar(f, strings.TrimSpace(string(data))); err != nil {
			l.fail(path, fmt.Errorf("%s_FILE: %w", name, err))
		}
	}
}

// readSecretFiles fills every x from its x_file sibling, anywhere in the
// tree (clients included).
func (l *loader) readSecretFiles(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		for i := range v.Len() {
			l.readSecretFiles(v.Index(i), itemPath(path, i, v.Index(i)))
		}
	case reflect.Struct:
		if v.Type() == providersType {
			l.readProviderSecretFiles(v.Addr().Interface().(*Providers), path)
			return
		}
		for _, key := range keys(v) {
			f, _ := fieldByKey(v, key)
			if !isFileKey(v, key) {
				l.readSecretFiles(f, joinKey(path, key))
				continue
			}
			if f.String() == "" {
				continue
			}
			target, _ := fieldByKey(v, strings.TrimSuffix(key, "_file"))
			targetPath := joinKey(path, strings.TrimSuffix(key, "_file"))
			if target.String() != "" {
				l.fail(targetPath, fmt.Errorf("%s and %s are both set; set only one", targetPath, joinKey(path, key)))
				continue
			}
			data, err := l.readFile(f.String())
			if err != nil {
				l.fail(targetPath, fmt.Errorf("%s: cannot read %s: %v", joinKey(path, key), f.String(), pathErrorCause(err)))
				continue
			}
			target.SetString(strings.TrimSpace(string(data)))
		}
	}
}

// pathErrorCause drops the operation and path from an *fs.PathError, which
// the messages above already name.
func pathErrorCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var durationType = reflect.TypeFor[time.Duration]()

// setScalar parses s into the leaf v. Lists ([]string) take a
// comma-separated s, trimmed, empty items dropped; YAML lists never reach
// here as a whole.
func setScalar(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (use e.g. 15m, 1h)", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (use true or false)", s)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := setScalar(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		panic(fmt.Sprintf("configs: no parser for %s", v.Type())) // a new field type needs a case here
	}
	return nil
}

// keys lists the YAML keys of struct v in declaration order (fields
// without one, such as unexported ones, are not configuration).
func keys(v reflect.Value) []string {
	t := v.Type()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); key != "" {
			out = append(out, key)
		}
	}
	return out
}

// fieldByKey returns the field of struct v whose YAML key is key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k == key && key != "" {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// isFileKey reports whether key is the x_file sibling of a key x of v.
func isFileKey(v reflect.Value, key string) bool {
	base, ok := strings.CutSuffix(key, "_file")
	if !ok {
		return false
	}
	_, ok = fieldByKey(v, base)
	return ok
}

// envName is the variable that overrides the key at path.
func envName(path string) string {
	return "SOCIALBRIDGE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(path))
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keyOrRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// itemPath names list item i, with its id when it has one, so that
// messages about clients say which client they mean.
func itemPath(path string, i int, item reflect.Value) string {
	id, _ := fieldByKey(item, "id")
	if id.Kind() != reflect.String {
		return listItem(path, i, "")
	}
	return listItem(path, i, id.String())
}

// listItem is the path of item i of list path: clients[0] (id "spa").
func listItem(path string, i int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s[%d]", path, i)
	}
	return fmt.Sprintf("%s[%d] (id %q)", path, i, id)
}
