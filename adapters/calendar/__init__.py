"""Exchange calendars from a maintained library, as the domain's `TradingCalendar` value."""
