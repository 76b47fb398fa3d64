"""Write operations of the mediarec app (HackSoft-style services)."""
