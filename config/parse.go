package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// parseEnv fills v (a pointer to a struct with env tags) from vars. Its
// errors name the variable, not the Go field.
func parseEnv(v any, vars map[string]string, prefix string) []error {
	err := env.ParseWithOptions(v, env.Options{Environment: vars, Prefix: prefix})
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []error{err}
	}
	t := reflect.TypeOf(v).Elem()
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				errs = append(errs, fmt.Errorf("%s%s: %w", prefix, name, pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errs
}

// sections are the parts of a Config, each a struct of fixed variables:
// Load parses them one by one, so a parse error's Go field name is
// unique within its part and the error can name its variable.
func sections(c *Config) []reflect.Value {
	v := reflect.ValueOf(c).Elem()
	out := make([]reflect.Value, v.NumField())
	for i := range v.NumField() {
		out[i] = v.Field(i)
	}
	return out
}
