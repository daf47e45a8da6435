package policy

import (
	"errors"
	"time"
)

// Date is a civil date (year, month, day) without time of day or zone. The
// engine compares facts at day precision, so every date in Facts is a Date.
//
// The zero Date means "not set" (the JSON null of the rule specification).
// A non-zero Date is always a valid calendar date between 0001-01-01 and
// 9999-12-31.
type Date struct {
	// n is the number of days since 0001-01-01 plus one, so that the zero
	// value stays free for "not set".
	n int32
}

// minDays and maxDays bound the internal day numbers of 0001-01-01 and
// 9999-12-31 (days relative to 1970-01-01).
const (
	minDays = -719162
	maxDays = 2932896
	// epochShift maps days since 1970-01-01 to n (0001-01-01 becomes 1).
	epochShift = -minDays + 1
)

var errDate = errors.New("date must be YYYY-MM-DD or an RFC 3339 date-time with a valid calendar date")

// NewDate returns the date year-month-day. Values outside their usual ranges
// are normalized the way time.Date does (2026-02-30 becomes 2026-03-02).
// Years outside 1..9999 after normalization yield the zero Date.
func NewDate(year int, month time.Month, day int) Date {
	return DateOf(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	if y < 1 || y > 9999 {
		return Date{}
	}
	return Date{n: int32(daysFromCivil(y, int(m), d) + epochShift)}
}

// ParseDate parses "YYYY-MM-DD" or an RFC 3339 date-time
// ("2026-03-01T10:15:00+01:00"; a date-time without offset is accepted too).
// The date is taken as written: the time of day and the offset are ignored,
// which is what "day precision" in the rule specification means.
func ParseDate(s string) (Date, error) {
	if len(s) < 10 {
		return Date{}, errDate
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return Date{}, errDate
	}
	if len(s) > 10 {
		// Validate the rest as a date-time; the date part has been checked.
		if s[10] != 'T' && s[10] != 't' {
			return Date{}, errDate
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err != nil {
				return Date{}, errDate
			}
		}
	}
	return Date{n: int32(daysFromCivil(y, m, d) + epochShift)}, nil
}

// MustParseDate is ParseDate for constants in tests and examples; it panics on
// malformed input.
func MustParseDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic("policy: MustParseDate(" + s + "): " + err.Error())
	}
	return d
}

// IsZero reports whether d is the zero Date ("not set").
func (d Date) IsZero() bool { return d.n == 0 }

// Civil returns year, month and day. The zero Date returns 0, 0, 0.
func (d Date) Civil() (year int, month time.Month, day int) {
	if d.n == 0 {
		return 0, 0, 0
	}
	y, m, dd := civilFromDays(int(d.n) - epochShift)
	return y, time.Month(m), dd
}

// Time returns midnight UTC of d. The zero Date returns the zero time.Time.
func (d Date) Time() time.Time {
	if d.n == 0 {
		return time.Time{}
	}
	y, m, dd := d.Civil()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}

// String returns "YYYY-MM-DD", or "" for the zero Date.
func (d Date) String() string {
	if d.n == 0 {
		return ""
	}
	var b [10]byte
	return string(d.appendTo(b[:0]))
}

// AppendText appends "YYYY-MM-DD" (nothing for the zero Date) to b.
func (d Date) AppendText(b []byte) ([]byte, error) {
	if d.n == 0 {
		return b, nil
	}
	return d.appendTo(b), nil
}

// MarshalText implements encoding.TextMarshaler ("" for the zero Date).
func (d Date) MarshalText() ([]byte, error) { return d.AppendText(nil) }

// UnmarshalText implements encoding.TextUnmarshaler; empty text gives the
// zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Date) appendTo(b []byte) []byte {
	y, m, dd := civilFromDays(int(d.n) - epochShift)
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+m/10), byte('0'+m%10), '-')
	return append(b, byte('0'+dd/10), byte('0'+dd%10))
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e. The zero
// Date sorts before every set date.
func (d Date) Compare(e Date) int {
	switch {
	case d.n < e.n:
		return -1
	case d.n > e.n:
		return 1
	}
	return 0
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.n < e.n }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.n > e.n }

// AddDays returns d plus n days (n may be negative). Adding to the zero Date
// or leaving the years 1..9999 yields the zero Date.
func (d Date) AddDays(n int) Date {
	if d.n == 0 {
		return Date{}
	}
	v := int64(d.n) + int64(n)
	if v < 1 || v > maxDays+epochShift {
		return Date{}
	}
	return Date{n: int32(v)}
}

// DaysSince returns the number of days from e to d (d - e). Both dates must
// be set; the result is meaningless otherwise.
func (d Date) DaysSince(e Date) int { return int(d.n) - int(e.n) }

// daysFromCivil returns the days since 1970-01-01 of the proleptic Gregorian
// date y-m-d (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
