package letter

import (
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/validate"
)

// ManifestHeader is the first row of the manifest.
var ManifestHeader = []string{"ref", "first_page", "pages", "recipient", "postal_code", "city", "country"}

// WriteManifest writes the CSV (RFC 4180, comma-separated, quoted where
// needed) that print-and-mail services take next to the batch PDF, one row
// per letter after the header row, in batch order:
//
//	ref          the letter's Ref, as printed in its information block
//	first_page   the page of the batch PDF the letter starts on, from 1
//	pages        how many pages the letter has (all of them single-sided)
//	recipient    the address lines as printed in the window, joined by line
//	             feeds (so the field is quoted)
//	postal_code  the postal code from the address: the last line that begins
//	             with one (4 or 5 digits, optionally after a country prefix
//	             such as "D-" or "CH-"; Dutch "1234 AB"); empty if none
//	city         the rest of that line
//	country      the line after it when it is the address's last line (DIN
//	             5008 puts the country last); empty for domestic letters
//
// Values are written as they are: a service that opens the file in a
// spreadsheet must import it as text. letters and placed are those given to
// and returned by Render.
func WriteManifest(w io.Writer, letters []Letter, placed []Placed) error {
	if len(letters) != len(placed) {
		return validate.Invalid("placed", fmt.Sprintf("placed has %d entries for %d letters; pass what Render returned", len(placed), len(letters)))
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ManifestHeader); err != nil {
		return fmt.Errorf("letter: write manifest: %w", err)
	}
	for i, l := range letters {
		p := placed[i]
		if p.Ref != l.Ref {
			return validate.Invalid("placed", fmt.Sprintf("placed[%d] is for another letter than letters[%d]; pass what Render returned, in order", i, i))
		}
		lines := make([]string, len(l.Recipient))
		for j, a := range l.Recipient {
			lines[j] = strings.TrimSpace(a)
		}
		postal, city, country := splitAddress(lines)
		if err := cw.Write([]string{l.Ref, strconv.Itoa(p.FirstPage), strconv.Itoa(p.Pages),
			strings.Join(lines, "\n"), postal, city, country}); err != nil {
			return fmt.Errorf("letter: write manifest: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("letter: write manifest: %w", err)
	}
	return nil
}

var postalLine = regexp.MustCompile(`^(?:[A-Z]{1,3}-)?(\d{4}\s?[A-Z]{2}|\d{4,5})\s+(\S.*)$`)

// splitAddress finds postal code, city and country in address lines.
func splitAddress(lines []string) (postal, city, country string) {
	for i := len(lines) - 1; i >= 0; i-- {
		m := postalLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i == len(lines)-2 {
			country = lines[i+1]
		}
		return m[1], m[2], country
	}
	return "", "", ""
}
