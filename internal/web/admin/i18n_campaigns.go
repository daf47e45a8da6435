package admin

// campaignFactTexts are the labels of the campaign facts of the
// existing-customer exemption (UWG §7(3)), as {English, German}.
var campaignFactTexts = map[string][2]string{
	"own_similar_offer": {"The messages advertise our own goods or services similar to those the customer bought (UWG §7(3) no. 2)",
		"Die Nachrichten bewerben eigene Waren oder Dienstleistungen, die den vom Kunden gekauften ähnlich sind (§ 7 Abs. 3 Nr. 2 UWG)"},
	"notice_in_message": {"Every message carries the notice of the right to object at any time (printed in the footer; UWG §7(3) no. 4)",
		"Jede Nachricht enthält den Hinweis auf das jederzeitige Widerspruchsrecht (in der Fußzeile; § 7 Abs. 3 Nr. 4 UWG)"},
}

func init() {
	for k, v := range campaignFactTexts {
		if _, ok := texts[k]; !ok {
			texts[k] = v
		}
	}
}
