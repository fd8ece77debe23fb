package vectors

// checkMMCS checks an mmcs-attachment vector. Filled in with the attachment
// package.
func checkMMCS(v *Vector) string {
	return "unsupported"
}
