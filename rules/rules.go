// Package rules compiles the user's expr rules once at start and matches
// events against them. Matching is pure: no I/O, no clock, no globals.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/whalewatch/whalewatch/event"
)

// Spec is a rule as configured (RULE_<NAME>_WHEN, _NOTIFY, _TEMPLATE, _ENABLED).
type Spec struct {
	Name     string
	When     string
	Notify   []string // destination names; empty means every destination
	Template string   // text/template over Env; empty means the default text
	Enabled  bool
	// GroupWindow: matches on the same host and compose project within
	// this window become one message, updated while more come; 0 sends
	// each match on its own.
	GroupWindow time.Duration
	// Cooldown: after a message about a container, more matches for it
	// within this time are counted, not sent.
	Cooldown time.Duration
}

// Rule is a compiled, enabled rule.
type Rule struct {
	Name        string
	When        string
	Notify      []string
	GroupWindow time.Duration
	Cooldown    time.Duration
	program     *vm.Program
	template    *template.Template
}

// Match is one rule that matched one event.
type Match struct {
	Rule  *Rule
	Event event.Event
	// Text is the rule's rendered template, or "" for the default text.
	Text string
}

// Engine holds the compiled rules in a stable order. Match reuses one
// expression VM, so an Engine serves one goroutine.
type Engine struct {
	rules []*Rule
	vm    vm.VM
}

// CompileError names the rule, the variable it came from and the place.
type CompileError struct {
	Rule     string
	Variable string
	Line     int // 1-based; 0 when unknown
	Column   int // 1-based; 0 when unknown
	Err      error
}

func (e *CompileError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("rule %s (%s): line %d, column %d: %v", e.Rule, e.Variable, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("rule %s (%s): %v", e.Rule, e.Variable, e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// EvalError is a rule that failed on one event at run time.
type EvalError struct {
	Rule string
	Err  error
}

func (e *EvalError) Error() string { return "rule " + e.Rule + ": " + e.Err.Error() }

// Compile compiles every enabled spec. The error joins one CompileError
// per broken rule, so a user sees all problems at once.
func Compile(specs []Spec) (*Engine, error) {
	eng := &Engine{}
	var errs []error
	for _, s := range specs {
		if !s.Enabled {
			continue
		}
		r, err := compileRule(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		eng.rules = append(eng.rules, r)
	}
	return eng, errors.Join(errs...)
}

func compileRule(s Spec) (*Rule, error) {
	whenVar := "RULE_" + s.Name + "_WHEN"
	if s.When == "" {
		return nil, &CompileError{Rule: s.Name, Variable: whenVar, Err: errors.New("no expression; set " + whenVar)}
	}
	opts := append([]expr.Option{expr.Env(Env{}), expr.AsBool()}, helpers()...)
	program, err := expr.Compile(s.When, opts...)
	if err != nil {
		ce := &CompileError{Rule: s.Name, Variable: whenVar, Err: err}
		var fe *file.Error
		if errors.As(err, &fe) {
			ce.Line, ce.Column = fe.Line, fe.Column+1
		}
		return nil, ce
	}
	r := &Rule{Name: s.Name, When: s.When, Notify: s.Notify, GroupWindow: s.GroupWindow, Cooldown: s.Cooldown, program: program}
	if s.Template != "" {
		if r.template, err = ParseTemplate(s.Name, s.Template); err != nil {
			return nil, &CompileError{Rule: s.Name, Variable: "RULE_" + s.Name + "_TEMPLATE", Err: err}
		}
	}
	return r, nil
}

// ParseTemplate parses a text/template over the rule environment (Env).
// Fields that do not exist fail here, not at the first event.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"exitMeaning": event.ExitMeaning,
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, Env{}); err != nil {
		return nil, err
	}
	return t, nil
}

// Render executes a template made by ParseTemplate for ev.
func Render(t *template.Template, ev event.Event) (string, error) {
	var b bytes.Buffer
	err := t.Execute(&b, NewEnv(ev))
	return b.String(), err
}

// Wanted says whether any rule matches ev. Unlike Match it is safe to
// call from other goroutines (each call has its own VM) and renders nothing.
func (e *Engine) Wanted(ev event.Event) bool {
	env := NewEnv(ev)
	for _, r := range e.rules {
		if out, err := expr.Run(r.program, env); err == nil && out == true {
			return true
		}
	}
	return false
}

// Rules lists the compiled rules in order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Match evaluates every rule against ev. Errors (a template that fails on
// this event) come back beside the matches; the match still counts, with
// the default text.
func (e *Engine) Match(ev event.Event) ([]Match, []*EvalError) {
	env := NewEnv(ev)
	var boxed any = env // boxed once, not once per rule
	var matches []Match
	var errs []*EvalError
	for _, r := range e.rules {
		out, err := e.vm.Run(r.program, boxed)
		if err != nil {
			errs = append(errs, &EvalError{Rule: r.Name, Err: err})
			continue
		}
		if ok, _ := out.(bool); !ok {
			continue
		}
		m := Match{Rule: r, Event: ev}
		if r.template != nil {
			text, err := r.render(env)
			if err != nil {
				errs = append(errs, &EvalError{Rule: r.Name, Err: fmt.Errorf("template: %w", err)})
			}
			m.Text = text
		}
		matches = append(matches, m)
	}
	return matches, errs
}

func (r *Rule) render(env Env) (string, error) {
	var b bytes.Buffer
	if err := r.template.Execute(&b, env); err != nil {
		return "", err
	}
	return b.String(), nil
}
