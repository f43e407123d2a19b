"""The demo province's mix of work, with the real figures it is modelled on.

Copied from the project's source documents (Vietnamese press and government texts):

* Thanh Hóa Public Administration Service Centre, 2022: 40,336 ratings, 72.18 % very
  satisfied, 27.82 % satisfied; other units in the same report 74.9 / 25.1 % and
  78.15 / 21.85 % with no unsatisfied rating; a district 88.4 % very satisfied.
* Hải Phòng, 2020: 6,341 dossiers received and 11,847 results returned through the public
  postal service, of which 5,837 and 7,211 at the Department of Transport (now Sở Xây dựng).
* Hà Nội 2022: SIPAS above 90 % in the department and district blocks; Sở Giao thông vận tải
  95.87 % satisfied; Vĩnh Bảo district 87.65 %.
"""

from __future__ import annotations

# Ratings: shares of very satisfied / satisfied / unsatisfied (Thanh Hóa 2022, with a small
# unsatisfied tail that real counters do see).
RATING_SHARES = {"very_satisfied": 0.7218, "satisfied": 0.2682, "unsatisfied": 0.01}
RATED_SHARE = 0.55  # finished dossiers whose applicant rates at the counter or online

# Channels. Postal filings concentrate at the transport/construction department (5,837 of
# Hải Phòng's 6,341), and postal returns are about twice the postal filings (11,847 / 6,341).
CHANNEL_SHARES = {"counter": 0.56, "online": 0.40, "postal": 0.04}
POSTAL_HEAVY_UNIT = "H26.02"  # Sở Xây dựng (took over transport in 2025)
POSTAL_HEAVY_SHARE = 0.35
POSTAL_RETURN_FACTOR = 11847 / 6341

# Outcomes of a dossier, before the clock decides whether it is finished yet.
OUTCOMES = {"early": 0.62, "on_time": 0.22, "late": 0.12, "rejected": 0.02, "withdrawn": 0.02}
SUPPLEMENT_SHARE = 0.10
TRANSFER_SHARE = 0.04
# For late dossiers: how the apology went.
APOLOGY_SHARES = {"timely": 0.55, "late": 0.2, "none": 0.25}
MISSED_REAPPOINTMENT_SHARE = 0.2
DELIVERY_FAILURE_SHARE = 0.05

# Where the work is: departments take most dossiers; the centre and province none directly.
BLOCK_WEIGHTS = {"department": 3.0, "commune": 1.0}
DOSSIERS_PER_WORKING_DAY = 45
