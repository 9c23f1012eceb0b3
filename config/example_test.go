package config_test

import (
	"errors"
	"fmt"

	"github.com/hedgegate/hedgegate/config"
)

func ExampleParse() {
	src := `replica_sets:
  kv:
    replicas:
      - {name: r1, url: "http://127.0.0.1:9101"}
routes:
  - name: kv-get
    match: /kv/{key}
    replica_set: kv
    hedge: {percentil: 99}
`
	_, err := config.Parse([]byte(src), "gateway.yaml")
	var problems config.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Println(p)
		}
	}
	// Output:
	// gateway.yaml:9: routes[0].hedge.percentil: unknown key "percentil" (did you mean "percentile"?)
}
