"""One module per use case. Each public method: check permission → one transaction → audit
entry in that transaction → publish an event after commit."""
