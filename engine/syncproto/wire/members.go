package wire

// Member is one top-level member of a JSON object body: its decoded key, its text
// (`"key":value`, as sent but for the whitespace around it) and its value's text.
type Member struct {
	Key         string
	Text, Value []byte
}

// TopLevelMembers splits the JSON object b into its top-level members, in order,
// keeping each member's text as it is in b (the session's blob code rewrites
// _attachments with it and keeps every other member byte for byte).
func TopLevelMembers(b []byte) ([]Member, error) {
	ms, err := topLevelMembers(b)
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Key: m.key, Text: m.text, Value: m.value}
	}
	return out, nil
}
