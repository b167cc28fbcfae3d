"""Static files of Kefu's chat widget (widget.js, widget.css) and the demo shop page, served by the socket.io channel."""
