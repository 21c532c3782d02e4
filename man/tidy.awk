# Removes the paragraph macros scdoc emits where a paragraph starts nothing,
# which mandoc -T lint reports ("skipping paragraph macro"): a .P right after
# a heading or another .P, or right before a heading, another .P or the end.
# A .P that ends an indented block (.P then .RE) is moved after the .RE, where
# it separates that block from the next one as intended.
{ line[NR] = $0 }

function is_heading_or_paragraph(text) {
  return text ~ /^\.(P|PP|SH|SS|TH)( |$)/
}

END {
  for (i = 1; i < NR; i++) {
    if (line[i] == ".P" && line[i + 1] == ".RE") {
      line[i] = ".RE"
      line[i + 1] = ".P"
    }
  }
  kept = 0
  for (i = 1; i <= NR; i++) {
    if (line[i] == ".P") {
      if (i == NR || line[i + 1] ~ /^\.(P|PP|SH|SS)( |$)/) continue
      if (kept > 0 && is_heading_or_paragraph(out[kept])) continue
    }
    out[++kept] = line[i]
  }
  for (i = 1; i <= kept; i++) print out[i]
}
