"""The demo shop's custom actions for the rasa-sdk action server (``kefu run actions``, port 5055).

``python -m rasa_sdk --actions actions`` imports every module here and registers each ``Action`` subclass.
The actions see the bot only as webhook JSON and reach the shop only over HTTP (``actions.clients``): they
import no other Kefu package.
"""
