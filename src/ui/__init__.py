"""Analyst UI (Streamlit): score, agent chat, live fraud view, pipeline status. Talks only to the API."""
