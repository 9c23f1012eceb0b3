package quorum

import "testing"

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		want   int
		wantOK bool
	}{
		{"equal", "42", "42", 0, true},
		{"less", "9", "10", -1, true},
		{"greater", "10", "9", 1, true},
		{"leading zeros", "042", "42", 0, true},
		{"zero forms", "-0", "000", 0, true},
		{"negative below positive", "-5", "3", -1, true},
		{"negatives", "-5", "-3", -1, true},
		{"beyond 2^64", "18446744073709551617", "18446744073709551616", 1, true},
		{"huge vs small", "123456789012345678901234567890", "99", 1, true},
		{"opaque left", "abc", "1", 0, false},
		{"opaque right", "1", `"1"`, 0, false},
		{"plus sign is opaque", "+1", "1", 0, false},
		{"fraction is opaque", "1.0", "1", 0, false},
		{"exponent is opaque", "1e3", "1000", 0, false},
		{"empty", "", "1", 0, false},
		{"lone minus", "-", "1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Version{Raw: tt.a}.Compare(Version{Raw: tt.b})
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Compare(%q, %q) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.wantOK)
			}
			if ok {
				back, _ := Version{Raw: tt.b}.Compare(Version{Raw: tt.a})
				if back != -got {
					t.Errorf("Compare not antisymmetric: %d and %d", got, back)
				}
			}
		})
	}
}

func TestVersionEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"42", "042", true},
		{"abc", "abc", true},
		{"abc", "ABC", false},
		{"1", "1.0", false},
		{`W/"x"`, `"x"`, false},
	}
	for _, tt := range tests {
		if got := (Version{Raw: tt.a}).Equal(Version{Raw: tt.b}); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
