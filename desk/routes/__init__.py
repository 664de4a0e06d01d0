"""The desk's pages, one router per resource: sign-in, cases, actions."""
