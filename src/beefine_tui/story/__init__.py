"""The story engine: raw events of a container's creation -> phases with explanations. No Textual."""
