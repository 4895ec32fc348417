package delta_test

import (
	"fmt"

	"github.com/p2psync/libp2psync/engine/delta"
)

func Example() {
	base := []byte(`{"kind":"bench","n":1,"tags":["a","b"]}`)
	edited := []byte(`{"kind":"edit1","n":1,"tags":["a","b","c"]}`)

	d, err := delta.Create(base, edited)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(d))

	body, err := delta.Apply(base, d)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(body))

	// A delta made from another base does not fit: the puller answers 422.
	_, err = delta.Apply([]byte(`{"kind":"bench"}`), d)
	fmt.Println(err)
	// Output:
	// {"kind":"edit1","tags":{"2-":["c"]}}
	// {"kind":"edit1","n":1,"tags":["a","b","c"]}
	// apply delta: at /tags: delta: invalid delta: object delta for a missing value
}
