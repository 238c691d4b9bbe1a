package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/socialbridge/socialbridge/providers"
)

// Providers configures the identity providers: named instances of a
// provider type, in the order the login page shows them.
//
// In the file it is a mapping from instance name to settings:
//
//	providers:
//	  google:                # type defaults to the name when it is a type
//	    client_id: ...
//	  corp:
//	    type: oidc
//	    issuer: https://login.corp.example
//
// A mapping rather than a list: names are unique by construction, every
// setting has one key path (providers.corp.issuer) that errors name and
// one variable that overrides it (SOCIALBRIDGE_PROVIDERS_CORP_ISSUER), and
// configurations written before provider types existed still load.
type Providers struct {
	// Instances in configuration order: the file's, then those only the
	// environment creates (by type name), then the implicit dev provider.
	Instances []ProviderInstance
}

// ProviderInstance is one configured provider.
type ProviderInstance struct {
	// Name is the instance name: the first half of its identity keys and
	// the last segment of its callback path (/callback/<name>).
	Name string
	ProviderCommon
	// Settings are the type's own settings (nil when Type is unknown).
	Settings providers.Settings
}

// ProviderCommon are the settings every provider type has.
type ProviderCommon struct {
	// Type is the provider type: google, azure, facebook, oidc or dev.
	// Default: the instance name, when it names a type.
	Type string `yaml:"type"`
	// Enabled turns the instance off without deleting it (default on;
	// the dev provider defaults to on in dev mode only).
	Enabled *bool `yaml:"enabled"`
	// DisplayName labels the login button (default: the type's label).
	DisplayName string `yaml:"display_name"`
	// LinkByEmail trusts the emails this provider marks verified for
	// automatic account linking: a first sign-in whose verified email
	// belongs to an existing user, through a provider that also has
	// link_by_email, joins that user instead of creating one. Turn it on
	// only for providers that truly own the addresses they verify.
	LinkByEmail bool `yaml:"link_by_email"`
}

// On reports whether the instance is enabled.
func (p *ProviderInstance) On() bool { return p.Enabled == nil || *p.Enabled }

// instanceName is what an instance may be called: it appears in URLs,
// identity keys and variable names.
var instanceName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

var providersType = reflect.TypeFor[Providers]()

// typeByName returns the registered type called name.
func (l *loader) typeByName(name string) (providers.Type, bool) {
	for _, t := range l.types {
		if t.Name == name {
			return t, true
		}
	}
	return providers.Type{}, false
}

// typeNames lists the registered types.
func (l *loader) typeNames() []string {
	out := make([]string, len(l.types))
	for i, t := range l.types {
		out[i] = t.Name
	}
	return out
}

// newInstance starts an instance of the type its name or type key says;
// Settings stay nil for an unknown type (reported by Validate).
func (l *loader) newInstance(name, typ string) ProviderInstance {
	inst := ProviderInstance{Name: name}
	inst.Type = typ
	if t, ok := l.typeByName(cmpOr(typ, name)); ok {
		inst.Settings = t.NewSettings()
	}
	return inst
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// decodeProviders decodes the providers mapping.
func (d *nodeDecoder) decodeProviders(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping from provider name to its settings")
		return
	}
	ps := v.Addr().Interface().(*Providers)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := joinKey(path, key.Value)
		if seen[key.Value] {
			d.fail(key, p, "duplicate key")
			continue
		}
		seen[key.Value] = true
		if val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		if val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null" {
			val = &yaml.Node{Kind: yaml.MappingNode}
		}
		if val.Kind != yaml.MappingNode {
			d.fail(val, p, "must be a mapping of the provider's settings")
			continue
		}
		typ := ""
		for j := 0; j+1 < len(val.Content); j += 2 {
			if val.Content[j].Value == "type" {
				typ = val.Content[j+1].Value
			}
		}
		inst := d.l.newInstance(key.Value, typ)
		d.decodeInstance(val, &inst, p)
		ps.Instances = append(ps.Instances, inst)
	}
}

// decodeInstance decodes one instance's mapping into its common and type
// settings; a key neither has is unknown.
func (d *nodeDecoder) decodeInstance(n *yaml.Node, inst *ProviderInstance, path string) {
	common := reflect.ValueOf(&inst.ProviderCommon).Elem()
	var settings reflect.Value
	if inst.Settings != nil {
		settings = reflect.ValueOf(inst.Settings).Elem()
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := joinKey(path, key.Value)
		f, ok := fieldByKey(common, key.Value)
		if !ok && settings.IsValid() {
			f, ok = fieldByKey(settings, key.Value)
		}
		switch {
		case !ok && !settings.IsValid():
			// The type is unknown (reported by Validate): its keys cannot
			// be checked.
		case !ok:
			known := append(keys(common), keys(settings)...)
			d.l.errs = append(d.l.errs, fmt.Errorf("%s: line %d: %s: unknown key for a provider of type %s; did you mean %s? (known keys here: %s)",
				d.file, key.Line, p, cmpOr(inst.Type, inst.Name), closest(key.Value, known), strings.Join(known, ", ")))
		case seen[key.Value]:
			d.fail(key, p, "duplicate key")
		default:
			seen[key.Value] = true
			d.decode(val, f, p)
		}
	}
}

// instanceValues returns the structs of an instance that settings live
// in: the common ones and the type's.
func instanceValues(inst *ProviderInstance) []reflect.Value {
	out := []reflect.Value{reflect.ValueOf(&inst.ProviderCommon).Elem()}
	if inst.Settings != nil {
		out = append(out, reflect.ValueOf(inst.Settings).Elem())
	}
	return out
}

// applyProviderEnv applies SOCIALBRIDGE_PROVIDERS_<NAME>_<KEY> to the
// file's instances, and creates an instance of each type that has no
// instance of its name in the file but is set by variables
// (SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID creates google).
func (l *loader) applyProviderEnv(ps *Providers, path string) {
	for i := range ps.Instances {
		inst := &ps.Instances[i]
		for _, v := range instanceValues(inst) {
			l.applyEnv(v, joinKey(path, inst.Name))
		}
	}
	for _, t := range l.types {
		if slices.ContainsFunc(ps.Instances, func(p ProviderInstance) bool { return p.Name == t.Name }) {
			continue
		}
		inst := l.newInstance(t.Name, "")
		if !l.anyEnv(&inst, joinKey(path, t.Name)) {
			continue
		}
		for _, v := range instanceValues(&inst) {
			l.applyEnv(v, joinKey(path, inst.Name))
		}
		if inst.Type != "" && inst.Type != t.Name {
			// A variable-made instance is named after its type.
			l.fail(joinKey(joinKey(path, t.Name), "type"), fmt.Errorf("%s: a provider configured only by variables has the type of its name (%s); configure %q in the file",
				envName(joinKey(joinKey(path, t.Name), "type")), t.Name, inst.Type))
		}
		ps.Instances = append(ps.Instances, inst)
	}
}

// anyEnv reports whether some variable sets a key of inst.
func (l *loader) anyEnv(inst *ProviderInstance, path string) bool {
	for _, name := range instanceVariables(inst, path) {
		if l.getenv(name) != "" {
			return true
		}
	}
	return false
}

// instanceVariables lists the variables that set inst's keys.
func instanceVariables(inst *ProviderInstance, path string) []string {
	var out []string
	for _, v := range instanceValues(inst) {
		out = append(out, structVariables(v.Type(), path)...)
	}
	return out
}

// readProviderSecretFiles fills every x from its x_file sibling in the
// instances.
func (l *loader) readProviderSecretFiles(ps *Providers, path string) {
	for i := range ps.Instances {
		inst := &ps.Instances[i]
		for _, v := range instanceValues(inst) {
			l.readSecretFiles(v, joinKey(path, inst.Name))
		}
	}
}

// providerDefaults resolves each instance's type and adds the dev
// provider in dev mode when the configuration has none.
func (c *Config) providerDefaults(newDev func() providers.Settings) {
	for i := range c.Providers.Instances {
		inst := &c.Providers.Instances[i]
		setDefault(&inst.Type, inst.Name)
		if inst.Type == "dev" && inst.Enabled == nil {
			inst.Enabled = new(c.Mode == ModeDev)
		}
	}
	if c.Mode == ModeDev && newDev != nil && !slices.ContainsFunc(c.Providers.Instances, func(p ProviderInstance) bool { return p.Name == "dev" }) {
		c.Providers.Instances = append(c.Providers.Instances, ProviderInstance{
			Name: "dev", ProviderCommon: ProviderCommon{Type: "dev", Enabled: new(true)}, Settings: newDev(),
		})
	}
}

// EnabledProviders returns the enabled instances, in order.
func (c *Config) EnabledProviders() []ProviderInstance {
	var out []ProviderInstance
	for _, p := range c.Providers.Instances {
		if p.On() {
			out = append(out, p)
		}
	}
	return out
}

// ProviderEnabled reports whether the instance called name is enabled.
func (c *Config) ProviderEnabled(name string) bool {
	return slices.ContainsFunc(c.Providers.Instances, func(p ProviderInstance) bool { return p.Name == name && p.On() })
}

// DevEnabled reports whether the dev provider is on.
func (c *Config) DevEnabled() bool {
	return slices.ContainsFunc(c.Providers.Instances, func(p ProviderInstance) bool { return p.Type == "dev" && p.On() })
}

// endpointer is implemented by settings that know the URLs they talk to.
type endpointer interface{ Endpoints() []string }

// realProviders lists the enabled instances that talk to a provider off
// this machine: real credentials, as opposed to a local fake (tests).
func (c *Config) realProviders() []string {
	var out []string
	for _, p := range c.EnabledProviders() {
		if p.Type == "dev" {
			continue
		}
		e, ok := p.Settings.(endpointer)
		if !ok {
			out = append(out, "providers."+p.Name)
			continue
		}
		for _, u := range e.Endpoints() {
			if u != "" && !providers.OnLoopback(u) {
				out = append(out, fmt.Sprintf("providers.%s (talks to %s)", p.Name, u))
				break
			}
		}
	}
	return out
}

// validateProviders checks names, types and each enabled instance's
// settings.
func (v *validator) validateProviders(c *Config, typeNames []string) {
	dev := c.Mode == ModeDev
	envNames := map[string]string{}
	for _, p := range c.Providers.Instances {
		path := "providers." + p.Name
		if !instanceName.MatchString(p.Name) {
			v.add(path, "the name must be 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter (it is part of the callback URL)")
			continue
		}
		if other, dup := envNames[envName(p.Name)]; dup {
			v.add(path, "the name is %s's with '-' for '_' (or the reverse): both would be configured by the same variables", other)
		}
		envNames[envName(p.Name)] = p.Name
		if p.Settings == nil {
			if p.Type == p.Name {
				v.add(path+".type", "required: %q is not a provider type, so say which type it is (known types: %s)", p.Name, strings.Join(typeNames, ", "))
			} else {
				v.add(path+".type", "unknown provider type %q (known types: %s)", p.Type, strings.Join(typeNames, ", "))
			}
			continue
		}
		if p.Type == "dev" && p.Name != "dev" {
			v.add(path+".type", "the dev provider must be named dev")
		}
		if !p.On() {
			continue
		}
		p.Settings.Validate(dev, func(key, msg string) { v.add(path+"."+key, "%s", msg) })
	}
	if len(c.EnabledProviders()) == 0 {
		if v.prod {
			v.add("providers", "no provider is enabled (configure one, e.g. providers.google.client_id)")
		} else {
			v.add("providers", "no provider is enabled (configure one, e.g. providers.google.client_id, or enable providers.dev)")
		}
	}
}

// providerNames lists every configured instance's name.
func (c *Config) providerNames() []string {
	out := make([]string, 0, len(c.Providers.Instances))
	for _, p := range c.Providers.Instances {
		out = append(out, p.Name)
	}
	return out
}

// providerTypeNames lists the provider types Load was given.
func (c *Config) providerTypeNames() []string {
	out := make([]string, 0, len(c.providerTypes))
	for _, t := range c.providerTypes {
		out = append(out, t.Name)
	}
	return out
}

// openTenancy lists the instances whose settings say they admit accounts
// of any tenant (claims.Rules.CheckSources).
func (c *Config) openTenancy() []string {
	var out []string
	for _, p := range c.Providers.Instances {
		if o, ok := p.Settings.(interface{ OpenTenancy() bool }); ok && o.OpenTenancy() {
			out = append(out, p.Name)
		}
	}
	return out
}
