package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// prefilter is what a rule's expression says of Type and Action on its
// own: a rule `Type == "container" && Action in ["die", "oom"] && …` can
// match only those. nil means any value may do. It lets an event that no
// rule can match skip every VM run, and the event source drop at once
// what no rule and no tracker cares about.
type prefilter struct {
	types, actions []string
}

func newPrefilter(when string) prefilter {
	tree, err := parser.Parse(when)
	if err != nil {
		return prefilter{} // compiled fine with the environment: let it run
	}
	return prefilter{types: values(tree.Node, "Type"), actions: values(tree.Node, "Action")}
}

// allows says whether the rule may match an event of this type and action.
func (p prefilter) allows(typ, action string) bool {
	return (p.types == nil || slices.Contains(p.types, typ)) && (p.actions == nil || slices.Contains(p.actions, action))
}

// values are the values field must have for node to be true, or nil when
// node does not say (any value may do). Only what is certain counts: ==
// and in with string literals, joined by && (both hold) and || (either).
func values(node ast.Node, field string) []string {
	switch n := node.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			l, r := values(n.Left, field), values(n.Right, field)
			switch {
			case l == nil:
				return r
			case r == nil:
				return l
			}
			both := []string{}
			for _, v := range l {
				if slices.Contains(r, v) {
					both = append(both, v)
				}
			}
			return both
		case "||", "or":
			l, r := values(n.Left, field), values(n.Right, field)
			if l == nil || r == nil {
				return nil
			}
			return append(slices.Clone(l), r...)
		case "==":
			if isField(n.Left, field) {
				return literal(n.Right)
			}
			if isField(n.Right, field) {
				return literal(n.Left)
			}
		case "in":
			if arr, ok := n.Right.(*ast.ArrayNode); ok && isField(n.Left, field) {
				var out []string
				for _, e := range arr.Nodes {
					s := literal(e)
					if s == nil {
						return nil
					}
					out = append(out, s...)
				}
				if out == nil {
					out = []string{}
				}
				return out
			}
		}
	}
	return nil
}

func isField(node ast.Node, field string) bool {
	id, ok := node.(*ast.IdentifierNode)
	return ok && id.Value == field
}

func literal(node ast.Node) []string {
	if s, ok := node.(*ast.StringNode); ok {
		return []string{s.Value}
	}
	return nil
}
