package policy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/policy"
)

// benchMix is a realistic mix: mostly marketing checks on contacts with a
// few consent records, some service messages, tracking and a policy
// override.
func benchMix() []struct {
	f policy.Facts
	r policy.Request
} {
	override := withPolicy(func(p *policy.Policy) { p.ECEChannels = []policy.Channel{email, sms} })
	return []struct {
		f policy.Facts
		r policy.Request
	}{
		{b2cProspect(withConsents(dm(email))), req(pDM, email)},
		{b2cCustomer(eceAll, withConsents(dm(email, givenOn("2024-01-01"), withdrawnOn("2025-03-01")), dm(sms, pending))), req(pDM, email)},
		{b2cCustomer(eceAll, withConsents(dm(email), consent(pAnalyt, web), consent(pPerson, web))), req(pDM, sms)},
		{b2bProspect(presumed, withConsents(dm(email))), req(pDM, phone)},
		{b2cProspect(withConsents(dm(phone), dm(email, pending)), dmObjection("2025-01-01", email)), req(pDM, phone)},
		{b2cCustomer(dmObjection("2025-09-01", email)), req(pDM, post)},
		{b2cCustomer(contractActive, advertising, eceAll), req(pContract, email)},
		{b2cProspect(inbound(email, phone)), req(pInquiry, phone)},
		{b2cProspect(withConsents(dm(email, pending))), req(pConfirm, email)},
		{b2cCustomer(retention, erasure(policy.ErasureExecuted)), req(pRetain, none)},
		{b2cProspect(device, withConsents(consent(pAnalyt, web), dm(email))), req(pAnalyt, web)},
		{b2cProspect(mode(policy.AnalyticsPseudonymized), objection(policy.ObjectionAnalytics, "2025-01-01", email)), req(pAnalyt, web)},
		{b2cCustomer(), req(pPerson, web)},
		{b2cCustomer(eceAll, override), req(pDM, sms)},
		{b2cProspect(withConsents(dm(email, givenOn("2022-01-01")), dm(email, givenOn("2023-01-01")), dm(email, givenOn("2024-01-01")), dm(email, pending))), req(pDM, email)},
		{b2cProspect(special, withConsents(dm(email))), req(pDM, email)},
	}
}

func BenchmarkDecide(b *testing.B) {
	mix := benchMix()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := &mix[i%len(mix)]
		if _, err := policy.Decide(m.f, m.r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecideLatency reports the p50/p99 latency of single decisions
// over the same mix (each sample includes the cost of reading the clock).
func BenchmarkDecideLatency(b *testing.B) {
	mix := benchMix()
	samples := make([]time.Duration, 0, 1<<16)
	i := 0
	for b.Loop() {
		m := &mix[i%len(mix)]
		start := time.Now()
		_, _ = policy.Decide(m.f, m.r)
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(start))
		}
		i++
	}
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
	}
}
