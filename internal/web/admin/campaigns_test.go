package admin

import (
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/campaign"
)

// TestSkipReasonsInWords: every reason a campaign report can name — the
// campaign's own and the engine's — is put in words in both languages,
// keeping the code, most frequent first.
func TestSkipReasonsInWords(t *testing.T) {
	m := map[string]int{}
	codes := []string{campaign.ReasonConditionNotMet, campaign.ReasonSuppressed, campaign.ReasonNoEmail, campaign.ReasonContactGone,
		campaign.ReasonDeliveryUnknown, campaign.ReasonRejected, "bounced", "complained", "denied", "consent_withdrawn", "marketing_objection"}
	for i, c := range codes {
		m[c] = i + 1
	}
	en, de := reasonCounts(m, "en"), reasonCounts(m, "de")
	for i := range en {
		code := en[i].Code
		if code != codes[len(codes)-1-i] {
			t.Errorf("row %d is %s, want the most frequent first", i, code)
		}
		if en[i].Text == code || de[i].Text == code || en[i].Text == de[i].Text || !strings.HasSuffix(en[i].Text, "("+code+")") || !strings.HasSuffix(de[i].Text, "("+code+")") {
			t.Errorf("%s: %q / %q", code, en[i].Text, de[i].Text)
		}
	}
}

// TestReportChart: one labelled bar per count, the longest for the
// largest, none for zero.
func TestReportChart(t *testing.T) {
	svg := string(hbarChart("counts", []string{"Sent", "Skipped", "Bounced"}, []int{10, 5, 0}))
	if strings.Count(svg, `<rect class="bar"`) != 3 || !strings.Contains(svg, `width="260.0"`) || !strings.Contains(svg, `width="130.0"`) || !strings.Contains(svg, `width="0.0"`) {
		t.Fatalf("chart: %s", svg)
	}
	for _, l := range []string{">Sent<", ">Skipped<", ">Bounced<", ">10<", ">5<", ">0<"} {
		if !strings.Contains(svg, l) {
			t.Errorf("chart lacks %s", l)
		}
	}
}
