package contact

import "encoding/json"

// ValuesBundle is the contact_values name of a row that holds all the
// values a contact was created with at once (sealed JSON, name → value),
// as one source gave them: a bulk import writes one such row per contact
// instead of one row per value. Each of its values reads as a row of its
// own with the bundle's source and time, superseded by the first later
// row of the same name (UnbundleValues, capture's value history).
const ValuesBundle = "*"

// BundleValues encodes the values of a bundle row (before sealing); empty
// values are left out, as they would get no row.
func BundleValues(vals map[string]string) ([]byte, error) {
	m := make(map[string]string, len(vals))
	for k, v := range vals {
		if v != "" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// UnbundleValues decodes an opened bundle row.
func UnbundleValues(b []byte) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
