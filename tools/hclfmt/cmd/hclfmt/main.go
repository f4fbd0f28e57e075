// Command hclfmt checks HCL files the way `terraform fmt -check` does, without Terraform or providers:
// every file must parse (hclsyntax, the parser Terraform uses) and be byte-identical to hclwrite.Format's
// output (the formatter `terraform fmt` is built on). It prints one line per problem and exits 1 if any.
//
// With -inventory it instead prints, as JSON, every top-level block of the files (type, labels, attribute
// names with their value when it is a constant string, nested block types), so tests can check conventions
// such as "every variable has a description" against the real parse tree.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Block is one top-level block of a file, as the inventory reports it.
type Block struct {
	File       string             `json:"file"`
	Type       string             `json:"type"`
	Labels     []string           `json:"labels"`
	Attributes map[string]*string `json:"attributes"`
	Blocks     []string           `json:"blocks"`
}

func parse(path string) (*hclsyntax.Body, []byte, []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		var problems []string
		for _, d := range diags {
			problems = append(problems, fmt.Sprintf("parse error: %s", d.Error()))
		}
		return nil, src, problems
	}
	return file.Body.(*hclsyntax.Body), src, nil
}

func check(path string) []string {
	_, src, problems := parse(path)
	if problems != nil {
		return problems
	}
	if formatted := hclwrite.Format(src); !bytes.Equal(formatted, src) {
		return []string{fmt.Sprintf("%s: not formatted (run terraform fmt)", path)}
	}
	return nil
}

// constantString is the attribute's value if it is a literal string (no references), else nil.
func constantString(expr hclsyntax.Expression) *string {
	value, diags := expr.Value(nil)
	if diags.HasErrors() || !value.IsKnown() || value.IsNull() || value.Type() != cty.String {
		return nil
	}
	text := value.AsString()
	return &text
}

func inventory(path string) ([]Block, []string) {
	body, _, problems := parse(path)
	if problems != nil {
		return nil, problems
	}
	var blocks []Block
	for _, b := range body.Blocks {
		block := Block{File: path, Type: b.Type, Labels: b.Labels, Attributes: map[string]*string{}, Blocks: []string{}}
		for name, attr := range b.Body.Attributes {
			block.Attributes[name] = constantString(attr.Expr)
		}
		for _, nested := range b.Body.Blocks {
			block.Blocks = append(block.Blocks, nested.Type)
		}
		blocks = append(blocks, block)
	}
	return blocks, nil
}

func main() {
	showInventory := flag.Bool("inventory", false, "print the top-level blocks as JSON instead of checking format")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: hclfmt [-inventory] FILE...")
		os.Exit(2)
	}
	failed := false
	all := []Block{}
	for _, path := range flag.Args() {
		var problems []string
		if *showInventory {
			var blocks []Block
			blocks, problems = inventory(path)
			all = append(all, blocks...)
		} else {
			problems = check(path)
		}
		for _, problem := range problems {
			fmt.Fprintln(os.Stderr, problem)
			failed = true
		}
	}
	if *showInventory && !failed {
		if err := json.NewEncoder(os.Stdout).Encode(all); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
