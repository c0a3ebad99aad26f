"""The headless engine behind a JSON-lines protocol (server.py), and the client that reaches it over
SSH (client.py). No Textual here: the agent is the only part that needs root and BPF."""
