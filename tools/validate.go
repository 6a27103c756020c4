package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// validator checks tool arguments against a tool's input schema and words
// every violation so that a model can correct its call.
type validator struct {
	tool   string
	schema *jsonschema.Schema
}

func newValidator(tool string, raw json.RawMessage) *validator {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("schema of %s: %v", tool, err))
	}
	c := jsonschema.NewCompiler()
	url := "sandstorm:///" + tool + ".json"
	if err := c.AddResource(url, doc); err != nil {
		panic(fmt.Sprintf("schema of %s: %v", tool, err))
	}
	schema, err := c.Compile(url)
	if err != nil {
		panic(fmt.Sprintf("compile schema of %s: %v", tool, err))
	}

	return &validator{tool: tool, schema: schema}
}

// check validates raw arguments; an absent argument object counts as {}.
func (v *validator) check(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("the arguments are not valid JSON: %w", err)
	}
	err = v.schema.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var problems []string
	collect(ve, &problems)
	sort.Strings(problems)

	return fmt.Errorf("invalid arguments for %s: %s. See the tool's input schema in "+
		"tools/list", v.tool, strings.Join(problems, "; "))
}

// collect gathers the leaf violations of a validation error as sentences.
func collect(ve *jsonschema.ValidationError, out *[]string) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, out)
		}

		return
	}
	where := "the arguments"
	if len(ve.InstanceLocation) > 0 {
		where = "argument " + strings.Join(ve.InstanceLocation, ".")
	}
	*out = append(*out, where+": "+ve.ErrorKind.LocalizedString(printer))
}
