package run

// resolveFetched is resolveBuildPaths for a Dockerfile devtool fetched (dockerfile git,
// devfileRegistry or an http(s) uri; devfile.Dockerfile.Fetched, an absolute path in devtool's
// cache): the build context is resolved and confined to the project as usual, the Dockerfile
// is the fetched copy wherever it lies (it is not the user's file, so the project rule does not
// apply to it).
func resolveFetched(devfileDir, fetched, buildContext string, allowOutside bool) (contextDir, dockerfile string, err error) {
	bc, df, err := resolveBuildPaths(devfileDir, fetched, buildContext, true)
	if err != nil || allowOutside {
		return bc, df, err
	}
	if err := lexicallyInside(devfileDir, bc, "dockerfile.buildContext", buildContext); err != nil {
		return "", "", err
	}
	if err := inside(devfileDir, bc, "dockerfile.buildContext", buildContext); err != nil {
		return "", "", err
	}
	return bc, df, nil
}
