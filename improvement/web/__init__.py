"""The browser wing: the register, proposing, the initiative page, portfolio and goals.

`urls` maps the pages; `access` lets people in and loads initiatives; `register`,
`initiative` and `overview` hold the views of each page family; `pages` builds each page's
data in one place; `forms` parse input; `charts` draw the KPI charts.
"""
